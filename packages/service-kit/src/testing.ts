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
  // Only a deadline for a process that will never be ready: generous, as loaded CI machines are slow to start one.
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  let lastError: string;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode} before ready: ${err || out}`);
    try {
      const probe = options.until === 'live' ? 'healthz' : 'readyz';
      const res = await fetch(`${url}/${probe}`);
      await res.arrayBuffer();
      if (res.status === 200) break;
      lastError = `${probe} answered ${res.status}`;
    } catch (e) {
      lastError = String(e);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${entry} not ready at ${url}: ${lastError}\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
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
