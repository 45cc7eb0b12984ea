// `make up` as a user runs it: every service becomes ready, and Ctrl-C leaves nothing behind.
import { spawn, spawnSync } from 'node:child_process';
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

describe('make up', () => {
  it('declares unique ports for every service', () => {
    const entries = discover();
    expect(entries.map((e) => e.name)).toContain('kit-example');
    expect(new Set(entries.map((e) => e.port)).size).toBe(entries.length);
  });

  it('starts every service until /readyz is 200, then Ctrl-C stops them all and exits 0', async () => {
    const offset = 20_000 + Math.floor(Math.random() * 20_000);
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
