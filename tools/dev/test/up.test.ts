// `make up` as a user runs it: every service becomes ready, and Ctrl-C leaves nothing behind.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { discover, formatLine } from '../up.ts';

const UP = fileURLToPath(new URL('../up.ts', import.meta.url));

function descendants(pid: number): number[] {
  const out = spawnSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' }).stdout;
  const children = new Map<number, number[]>();
  for (const line of out.trim().split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    if (p === undefined || pp === undefined) continue;
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const all: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      all.push(c);
      walk(c);
    }
  };
  walk(pid);
  return all;
}

function canBind(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

/**
 * A port offset whose ports are all free and below the kernel's ephemeral range, so that no outgoing
 * connection of a concurrent test (PostgreSQL, the apiserver...) can take one before make up binds it.
 */
async function freeOffset(ports: number[]): Promise<number> {
  let ephemeralStart = 32768;
  try {
    ephemeralStart = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    // not Linux: keep the usual default
  }
  const highest = Math.max(...ports);
  const room = ephemeralStart - highest - 10_001;
  for (let attempt = 0; attempt < 50; attempt++) {
    const offset = 10_000 + Math.floor(Math.random() * Math.max(1, room));
    const free = await Promise.all(ports.map((p) => canBind(p + offset)));
    if (free.every(Boolean)) return offset;
  }
  throw new Error('no free port offset for make up below the ephemeral port range');
}

describe('make up', () => {
  it('declares unique ports for every service', () => {
    const entries = discover();
    expect(entries.map((e) => e.name)).toContain('kit-example');
    expect(new Set(entries.map((e) => e.port)).size).toBe(entries.length);
  });

  it('starts every service until /readyz is 200, then Ctrl-C stops them all and exits 0', async () => {
    const offset = await freeOffset(discover().map((s) => s.port));
    const up = spawn(process.execPath, [UP], {
      env: { ...process.env, UP_PORT_OFFSET: String(offset) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    up.stdout.on('data', (d: Buffer) => (out += d.toString()));
    up.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((done) => up.once('exit', (code) => done(code)));

    const deadline = Date.now() + 30_000;
    while (!out.includes('sre-platform is up') && Date.now() < deadline && up.exitCode === null) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(out).toContain('sre-platform is up');
    const services = discover();
    for (const s of services) {
      expect(out).toContain(`http://127.0.0.1:${s.port + offset}`);
      const res = await fetch(`http://127.0.0.1:${s.port + offset}/readyz`);
      expect(res.status, s.name).toBe(200);
    }
    const children = descendants(up.pid!);
    expect(children.length).toBeGreaterThanOrEqual(services.length);

    up.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out).toMatch(/stopped kit-example \(exit 0\)/);
    const alive = children.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    expect(alive).toEqual([]);
    for (const s of services) await expect(fetch(`http://127.0.0.1:${s.port + offset}/healthz`)).rejects.toThrow();
  });

  it('renders JSON log lines for a terminal and passes other lines through', () => {
    const line = JSON.stringify({
      level: 'warn',
      time: '2026-01-01T10:20:30.456Z',
      msg: 'hello',
      service: 'x',
      route: '/a',
    });
    expect(formatLine('svc', line, false)).toBe('svc                10:20:30.456 warn  hello {"route":"/a"}');
    expect(formatLine('svc', 'plain text', false)).toBe('svc                plain text');
  });
});
