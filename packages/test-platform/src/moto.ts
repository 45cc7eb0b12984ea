// A moto server: the real AWS APIs (DynamoDB, S3, IAM, CloudFormation, ...) spoken to the AWS SDK. The test run's
// own one (global-setup.ts) listens on loopback, and tests isolate themselves on it with unique resource names; a
// test whose pods must reach the emulator starts one more on the real node's address (host: REAL_NODE.ip).
import { join } from 'node:path';

import { freePort, startManaged, waitFor } from './process.ts';
import { toolBin } from './tools.ts';

export interface MotoInfo {
  endpoint: string;
  region: string;
}

export interface MotoOptions {
  /**
   * The address to listen on (default 127.0.0.1). Pods on the real node reach this machine at REAL_NODE.ip (the
   * bridge exists only while the node runs), and nothing outside the machine does.
   */
  host?: string;
}

export interface MotoServer {
  info: MotoInfo;
  stop: () => Promise<void>;
  /** The server's recent log (one line per request, with the client's address). */
  output: () => string;
  /** Its process id (benchmarks read its CPU time from /proc). */
  pid: number | undefined;
}

export async function startMoto(options: MotoOptions = {}): Promise<MotoServer> {
  const bin = toolBin('moto');
  const host = options.host ?? '127.0.0.1';
  // A port free on loopback; one taken on `host` alone would make moto exit, which waitFor reports.
  const port = await freePort();
  const proc = startManaged('moto', join(bin, 'moto_server'), ['-H', host, '-p', String(port)]);
  const endpoint = `http://${host}:${port}`;
  try {
    await waitFor('moto', async () => (await fetch(`${endpoint}/moto-api/`)).ok, 30_000, proc);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { info: { endpoint, region: 'us-east-1' }, stop: () => proc.stop(), output: proc.output, pid: proc.child.pid };
}
