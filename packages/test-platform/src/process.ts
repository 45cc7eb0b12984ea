// Child processes that must not outlive the test run: each is remembered, and stopAll() plus an
// exit hook make sure none is left behind even when a test fails or vitest is interrupted.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Managed {
  name: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | string>;
  stop(): Promise<void>;
}

const live = new Set<Managed>();

export function startManaged(name: string, command: string, args: string[], options: SpawnOptions = {}): Managed {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | string>((done) => {
    child.once('exit', (code, signal) => {
      done(code ?? signal ?? 'unknown');
    });
    child.once('error', (err) => {
      output += String(err);
      done('spawn-error');
    });
  });
  const managed: Managed = {
    name,
    child,
    output: () => output,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      live.delete(managed);
    },
  };
  live.add(managed);
  return managed;
}

/** Last resort for an abrupt exit: synchronous, so it works inside process.on('exit'). */
export function killAllNow(): void {
  for (const m of live) if (m.child.exitCode === null) m.child.kill('SIGKILL');
  live.clear();
}

export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, proc?: Managed) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc && proc.child.exitCode !== null) {
      throw new Error(`${what}: ${proc.name} exited (${proc.child.exitCode}):\n${proc.output().slice(-3000)}`);
    }
    try {
      if (await probe()) return;
    } catch (err) {
      last = String(err);
    }
    await sleep(100);
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms ${last}\n${proc?.output().slice(-3000) ?? ''}`);
}

export { freePort } from '@sre-platform/service-kit/testing';
