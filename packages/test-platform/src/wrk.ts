// Closed-loop HTTP load from wrk (Debian's package, through tools/install), for benchmarks whose
// load generator must not compete for the cores it measures: wrk is C and LuaJIT, and spends a
// third of autocannon's CPU per request (figures in the README, "Measured").
// wrk has no rate limit: runs at a fixed rate stay with autocannon.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { toolBin } from './tools.ts';

const SCRIPT = join(import.meta.dirname, 'wrk/load.lua');

export interface WrkOptions {
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
  /** wrk threads; one keeps wrk to one core's share. */
  threads?: number;
}

export interface WrkResult {
  total: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx3xx: number;
  socketErrors: number;
  timeouts: number;
}

/** Runs wrk once and returns its figures; throws if wrk fails or prints no result. */
export async function wrk(options: WrkOptions): Promise<WrkResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sre-platform-wrk-'));
  try {
    const bodyFile = join(dir, 'body');
    if (options.body !== undefined) writeFileSync(bodyFile, options.body);
    const args = [
      `-t${options.threads ?? 1}`,
      `-c${options.connections}`,
      `-d${Math.max(1, Math.round(options.durationS))}s`,
      '-s',
      SCRIPT,
      ...Object.entries(options.headers ?? {}).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
      options.url,
    ];
    const { stdout } = await promisify(execFile)(join(toolBin('wrk'), 'wrk'), args, {
      env: {
        ...process.env,
        WRK_METHOD: options.method ?? '',
        WRK_BODY_FILE: options.body === undefined ? '' : bodyFile,
        WRK_UNIQUE_HEADER: options.uniqueHeader ?? '',
        WRK_UNIQUE_PREFIX: options.uniquePrefix ?? `wrk-${process.pid}-${Date.now()}`,
      },
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
      throw new Error(`wrk printed no result line:\n${stdout}`);
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
