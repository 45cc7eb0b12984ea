// Helpers for services' tests: a config with test-friendly defaults, a log capture, and a
// service started as a real process.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';

import { BaseConfigSchema, loadConfig, type BaseConfig } from './config.ts';

/** A valid base config on a random port, quiet unless overridden. */
export function testConfig(overrides: Partial<BaseConfig> = {}): BaseConfig {
  return { ...loadConfig(BaseConfigSchema, { PORT: '0', LOG_LEVEL: 'info' }), ...overrides };
}

/** A pino destination that keeps every line, for asserting what was (and was not) logged. */
export function captureLogs() {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  return {
    destination,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export interface StartedProcess {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export type ProbeWait = { ok: true } | { ok: false; last: string; exitCode?: number };

/**
 * Polls a probe URL (a service's /readyz or /healthz) until it answers 200: the one readiness poll that tests'
 * processes and `make up` share. It stops early when `exited()` returns the exit code of the process behind it,
 * and gives up after `timeoutMs` with the last answer, for the caller's message.
 */
export async function waitForProbe(
  url: string,
  options: { timeoutMs: number; intervalMs?: number; exited?: () => number | null },
): Promise<ProbeWait> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'no answer';
  for (;;) {
    const exitCode = options.exited?.() ?? null;
    if (exitCode !== null) return { ok: false, last, exitCode };
    try {
      const res = await fetch(url);
      const body = await res.text();
      if (res.status === 200) return { ok: true };
      last = `${url} answered ${res.status}: ${body.slice(0, 500)}`;
    } catch (e) {
      last = String(e);
    }
    if (Date.now() > deadline) return { ok: false, last };
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
  }
}

/**
 * Starts a service as a real process (Node runs the TypeScript directly) and waits until its
 * /readyz answers 200 (or, with `until: 'live'`, its /healthz: the process serves, its
 * dependencies may not answer yet). The port is the test's to choose: pass PORT in env.
 */
export async function startProcess(
  entry: string,
  env: Record<string, string>,
  options: { readyTimeoutMs?: number; host?: string; until?: 'ready' | 'live' } = {},
): Promise<StartedProcess> {
  const child = spawn(process.execPath, [entry], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const url = `http://${options.host ?? '127.0.0.1'}:${env['PORT'] ?? '8080'}`;
  const probe = options.until === 'live' ? 'healthz' : 'readyz';
  // Only a deadline for a process that will never be ready: generous, as loaded CI machines are slow to start one.
  const wait = await waitForProbe(`${url}/${probe}`, {
    timeoutMs: options.readyTimeoutMs ?? 60_000,
    intervalMs: 50,
    exited: () => child.exitCode,
  });
  if (!wait.ok && wait.exitCode !== undefined) {
    throw new Error(`${entry} exited with ${wait.exitCode} before ready: ${err || out}`);
  }
  if (!wait.ok) {
    child.kill('SIGKILL');
    throw new Error(`${entry} not ready at ${url}: ${wait.last}\n${err}`);
  }
  return {
    child,
    url,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** A free TCP port on loopback, chosen by the kernel. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
