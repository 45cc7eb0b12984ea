// A Prometheus server for one test run. Tests add scrape targets by writing file_sd files into
// targetsDir (picked up within a second) and ask it PromQL over its HTTP API.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort, startManaged, waitFor } from './process.ts';
import { toolBin } from './tools.ts';

export interface PrometheusInfo {
  url: string;
  targetsDir: string;
  bin: string;
}

export async function startPrometheus(): Promise<{ info: PrometheusInfo; stop: () => Promise<void> }> {
  const bin = toolBin('prometheus');
  const dir = mkdtempSync(join(tmpdir(), 'sre-platform-prometheus-'));
  const targetsDir = join(dir, 'targets');
  mkdirSync(targetsDir);
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: tests',
      `    file_sd_configs: [{ files: ['${targetsDir}/*.json'], refresh_interval: 1s }]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const proc = startManaged('prometheus', join(bin, 'prometheus'), [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--web.enable-lifecycle',
  ]);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('prometheus', async () => (await fetch(`${url}/-/ready`)).ok, 30_000, proc);
  } catch (err) {
    await stop();
    throw err;
  }
  return { info: { url, targetsDir, bin }, stop };
}
