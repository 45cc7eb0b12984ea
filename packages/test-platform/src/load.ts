// Closed-loop HTTP load from httpload (tools/go/httpload: vegeta's library, built from the Go module proxy through
// tools/install), for benchmarks whose load generator must not compete much for the cores it measures (its CPU per
// request against autocannon's and wrk's: the README's "Measured"). No rate option is wired here: runs at a fixed
// rate stay with autocannon.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { toolBin } from './tools.ts';

export interface LoadOptions {
  url: string;
  connections: number;
  durationS: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** A header that gets a value of its own on every request (an idempotency key, say). */
  uniqueHeader?: string;
  /** Prefix of those values; make it differ between runs against one store. */
  uniquePrefix?: string;
  /** OS threads of the generator (GOMAXPROCS); one keeps it to one core's share. */
  threads?: number;
}

export interface LoadResult {
  total: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx3xx: number;
  socketErrors: number;
  timeouts: number;
}

/** Runs httpload once and returns its figures; throws if it fails or prints no result. */
export async function httpLoad(options: LoadOptions): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sre-platform-load-'));
  try {
    const bodyFile = join(dir, 'body');
    if (options.body !== undefined) writeFileSync(bodyFile, options.body);
    const args = [
      '-url',
      options.url,
      '-c',
      String(options.connections),
      '-d',
      `${Math.max(1, Math.round(options.durationS))}s`,
      '-method',
      options.method ?? 'GET',
      ...(options.body === undefined ? [] : ['-body', bodyFile]),
      ...Object.entries(options.headers ?? {}).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
      ...(options.uniqueHeader === undefined
        ? []
        : [
            '-unique-header',
            options.uniqueHeader,
            '-unique-prefix',
            options.uniquePrefix ?? `load-${process.pid}-${Date.now()}`,
          ]),
    ];
    const { stdout } = await promisify(execFile)(join(toolBin('httpload'), 'httpload'), args, {
      env: { ...process.env, GOMAXPROCS: String(options.threads ?? 1) },
      maxBuffer: 1 << 20,
    });
    const line = stdout.trim().split('\n').pop() ?? '';
    let r: {
      requests: number;
      durationUs: number;
      p50Us: number;
      p99Us: number;
      maxUs: number;
      non2xx3xx: number;
      socketErrors: number;
      timeouts: number;
    };
    try {
      r = JSON.parse(line) as typeof r;
    } catch {
      throw new Error(`httpload printed no result line:\n${stdout}`);
    }
    return {
      total: r.requests,
      rps: r.requests / (r.durationUs / 1e6),
      p50Ms: r.p50Us / 1000,
      p99Ms: r.p99Us / 1000,
      maxMs: r.maxUs / 1000,
      non2xx3xx: r.non2xx3xx,
      socketErrors: r.socketErrors,
      timeouts: r.timeouts,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
