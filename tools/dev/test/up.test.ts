// `make up` as a user runs it: every service becomes ready, and Ctrl-C leaves nothing behind.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

import { afterEach, describe, expect, it } from 'vitest';

import { applyAwsEmulatorEnv, discover, formatLine, serviceEnv, shiftPeerUrl, type UpEntry } from '../up.ts';

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
async function freeOffset(ports: number[], avoid: ReadonlySet<number> = new Set()): Promise<number> {
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
    if (ports.some((p) => avoid.has(p + offset))) continue;
    const free = await Promise.all(ports.map((p) => canBind(p + offset)));
    if (free.every(Boolean)) return offset;
  }
  throw new Error('no free port offset for make up below the ephemeral port range');
}

// Every `make up` a test started: one a failed or timed-out test left running gets Ctrl-C (which stops its services,
// each in its own process group) rather than outliving the run with them.
const started: { up: ReturnType<typeof spawn>; exited: Promise<number | null> }[] = [];
afterEach(async () => {
  for (const run of started.splice(0)) {
    if (run.up.exitCode === null && run.up.signalCode === null) run.up.kill('SIGINT');
    await run.exited;
  }
});

/** `make up` with a port offset, as a user starts it; resolves once it printed that it is up. */
async function startUp(offset: number, env: Record<string, string> = {}) {
  const up = spawn(process.execPath, [UP], {
    env: { ...process.env, ...env, UP_PORT_OFFSET: String(offset) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const state = { out: '' };
  up.stdout.on('data', (d: Buffer) => (state.out += d.toString()));
  up.stderr.on('data', (d: Buffer) => (state.out += d.toString()));
  const exited = new Promise<number | null>((done) => up.once('exit', (code) => done(code)));
  started.push({ up, exited });
  // make up bounds each service's start-up itself (and exits if one fails); no clock of our own.
  const settled = await Promise.race([
    exited.then(() => 'exited' as const),
    new Promise<'up'>((done) => {
      const check = () => (state.out.includes('sre-platform is up') ? done('up') : setTimeout(check, 100));
      check();
    }),
  ]);
  return {
    up,
    exited,
    settled,
    get out() {
      return state.out;
    },
  };
}

const metric = (text: string, name: string) =>
  Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);

describe('make up', () => {
  it('declares unique ports for every service', () => {
    const entries = discover();
    expect(entries.map((e) => e.name)).toContain('kit-example');
    expect(new Set(entries.map((e) => e.port)).size).toBe(entries.length);
  });

  it('starts every service until /readyz is 200, then Ctrl-C stops them all and exits 0', async () => {
    const offset = await freeOffset(discover().map((s) => s.port));
    const run = await startUp(offset);
    const { up, exited } = run;
    expect(run.settled, run.out).toBe('up');
    const services = discover();
    for (const s of services) {
      expect(run.out).toContain(`http://127.0.0.1:${s.port + offset}`);
      const res = await fetch(`http://127.0.0.1:${s.port + offset}/readyz`);
      expect(res.status, s.name).toBe(200);
    }
    const children = descendants(up.pid!);
    expect(children.length).toBeGreaterThanOrEqual(services.length);

    up.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(run.out).toMatch(/stopped kit-example \(exit 0\)/);
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
  }, 180_000);

  it('points a service that needs the AWS emulator at it, with dummy credentials, unless the caller names one', () => {
    const env: NodeJS.ProcessEnv = {
      AWS_ACCESS_KEY_ID: 'AKIAREAL',
      AWS_SESSION_TOKEN: 'real',
      AWS_PROFILE: 'prod',
      KEEP: 'k',
    };
    applyAwsEmulatorEnv(env, 'http://127.0.0.1:4566', {});
    expect(env).toEqual({
      KEEP: 'k',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
      AWS_ACCESS_KEY_ID: 'local-emulator',
      AWS_SECRET_ACCESS_KEY: 'local-emulator',
      AWS_REGION: 'us-east-1',
    });
    const caller = { AWS_ENDPOINT_URL: 'http://localhost:4567', AWS_ACCESS_KEY_ID: 'x' };
    const own = { ...caller };
    applyAwsEmulatorEnv(own, 'http://127.0.0.1:4566', caller);
    expect(own).toEqual(caller);
  });

  it("gives a service the caller's variables over its defaults, and shifts peer URLs with the offset", () => {
    const entries: UpEntry[] = [
      { name: 'invoice-app', entry: 'x', port: 8081, env: { PAYMENT_PROVIDER_URL: 'http://127.0.0.1:8082', A: '1' } },
      { name: 'payment-provider', entry: 'x', port: 8082 },
      { name: 'webhook-app', entry: 'x', port: 8080, env: { ROCKETCHAT_URL: 'http://localhost:3100/api', B: 'x' } },
      { name: 'rocketchat-peer', entry: 'x', port: 3100 },
    ];
    const [invoice, , webhook] = entries;
    expect(serviceEnv(invoice!, entries, 1000, { PORT: '1', KEEP: 'k' })).toMatchObject({
      PAYMENT_PROVIDER_URL: 'http://127.0.0.1:9082',
      A: '1',
      KEEP: 'k',
      HOST: '127.0.0.1',
      PORT: '9081',
    });
    expect(serviceEnv(webhook!, entries, 1000, {})).toMatchObject({ ROCKETCHAT_URL: 'http://localhost:4100/api' });
    expect(serviceEnv(invoice!, entries, 0, {})['PAYMENT_PROVIDER_URL']).toBe('http://127.0.0.1:8082');
    // The caller's own value wins, untouched by the offset.
    const caller = { PAYMENT_PROVIDER_URL: 'http://127.0.0.1:8082', A: '2' };
    expect(serviceEnv(invoice!, entries, 1000, caller)).toMatchObject(caller);
    expect(serviceEnv(invoice!, entries, 1000, { PAYMENT_PROVIDER_URL: '' })['PAYMENT_PROVIDER_URL']).toBe(
      'http://127.0.0.1:9082',
    );
    // Only loopback URLs at a declared port are peers.
    const ports = new Set([8082]);
    expect(shiftPeerUrl('http://127.0.0.1:8082', ports, 5)).toBe('http://127.0.0.1:8087');
    expect(shiftPeerUrl('https://[::1]:8082/x?y', ports, 5)).toBe('https://[::1]:8087/x?y');
    expect(shiftPeerUrl('http://127.0.0.1:80820', ports, 5)).toBe('http://127.0.0.1:80820');
    expect(shiftPeerUrl('http://payments.example:8082', ports, 5)).toBe('http://payments.example:8082');
    expect(shiftPeerUrl('http://127.0.0.1:9999', ports, 5)).toBe('http://127.0.0.1:9999');
    expect(shiftPeerUrl('8082', ports, 5)).toBe('8082');
  });

  it('two make up side by side: each invoice-app pays through its own payment-provider', async () => {
    const ports = discover().map((s) => s.port);
    const a = await freeOffset(ports);
    const b = await freeOffset(ports, new Set(ports.map((p) => p + a)));
    const port = (name: string, offset: number) => discover().find((s) => s.name === name)!.port + offset;
    const instances = await Promise.all([startUp(a), startUp(b)]);
    try {
      for (const run of instances) expect(run.settled, run.out).toBe('up');
      for (const offset of [a, b]) {
        const res = await fetch(`http://127.0.0.1:${port('invoice-app', offset)}/invoices/pay`, { method: 'POST' });
        expect(res.status, await res.clone().text()).toBe(200);
        expect(((await res.json()) as { paid: unknown[] }).paid).toHaveLength(3);
      }
      // Proven by each provider's own records: three payments each, none through the other.
      for (const offset of [a, b]) {
        const text = await (await fetch(`http://127.0.0.1:${port('payment-provider', offset)}/metrics`)).text();
        expect(metric(text, 'payment_provider_payments_total{result="paid"}')).toBe(3);
      }
      for (const [i, offset] of [a, b].entries()) {
        const run = instances[i]!;
        // The wiring, as make up reports it to the user.
        expect(run.out).toContain(`PAYMENT_PROVIDER_URL=http://127.0.0.1:${port('payment-provider', offset)}`);
        expect(run.out).toContain(`ROCKETCHAT_URL=http://127.0.0.1:${port('rocketchat-peer', offset)}`);
      }
    } finally {
      for (const run of instances) run.up.kill('SIGINT');
      const codes = await Promise.all(instances.map((run) => run.exited));
      expect(codes).toEqual([0, 0]);
    }
  }, 300_000);

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
