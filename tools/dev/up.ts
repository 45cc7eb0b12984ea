// `make up`: starts every service in the monorepo on its fixed port with embedded defaults, waits
// for each /readyz, prints the URLs, and on Ctrl-C (or SIGTERM) stops them all gracefully.
//
// A workspace takes part by declaring, in its package.json:
//   "srePlatform": { "up": [{ "name": "webhook-app", "entry": "src/main.ts", "port": 8080 }] }
// UP_PORT_OFFSET shifts every port (e.g. 1000 -> 9090), so that two checkouts or a test can run
// beside a developer's own `make up`. A service's "env" holds defaults only: a variable set in the
// caller's environment wins, and a default URL on loopback whose port another service declares
// (a peer, such as invoice-app's PAYMENT_PROVIDER_URL) moves with the offset, so that each checkout's
// services talk to their own peers.
//
// An entry may also declare "needs": ["aws-emulator"]: make up then starts one moto server (tools/install moto,
// Python) on 127.0.0.1:4566 (+ offset), gives such services AWS_ENDPOINT_URL and dummy credentials (unless
// the caller set AWS_ENDPOINT_URL: then that emulator is used and none is started), and runs the entry's
// "setup" script (e.g. creating its table and bucket) to completion before the service starts.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { waitForProbe } from '@sre-platform/service-kit/testing';

export interface UpEntry {
  name: string;
  entry: string;
  port: number;
  env?: Record<string, string>;
  /** Local stand-ins make up starts first. */
  needs?: 'aws-emulator'[];
  /** A script run (node, in the workspace, with the service's environment) before the service starts. */
  setup?: string;
}

/** Where make up's moto server listens (LocalStack's port, so that tools that assume it work too), before the offset. */
export const AWS_EMULATOR_PORT = 4566;

/**
 * Points `env` (a service's environment) at the emulator, unless the caller set AWS_ENDPOINT_URL. Dummy
 * credentials replace the caller's: real ones are never sent to an emulator.
 */
export function applyAwsEmulatorEnv(env: NodeJS.ProcessEnv, endpoint: string, callerEnv: NodeJS.ProcessEnv): void {
  if (callerEnv['AWS_ENDPOINT_URL']) return;
  for (const name of ['AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN'])
    delete env[name];
  Object.assign(env, {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'local-emulator',
    AWS_SECRET_ACCESS_KEY: 'local-emulator',
    AWS_REGION: callerEnv['AWS_REGION'] || 'us-east-1',
  });
}

interface Running extends UpEntry {
  cwd: string;
  child: ChildProcess;
  exited: Promise<number | string>;
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

/** Every workspace's srePlatform.up entries, in workspace order. */
export function discover(root = ROOT): (UpEntry & { cwd: string })[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces?: string[] };
  const found: (UpEntry & { cwd: string })[] = [];
  for (const pattern of pkg.workspaces ?? []) {
    const base = join(root, pattern.replace(/\/\*$/, ''));
    const dirs = pattern.endsWith('/*') && existsSync(base) ? readdirSync(base).map((d) => join(base, d)) : [base];
    for (const dir of dirs.sort()) {
      const file = join(dir, 'package.json');
      if (!existsSync(file)) continue;
      const ws = JSON.parse(readFileSync(file, 'utf8')) as { srePlatform?: { up?: UpEntry[] } };
      for (const entry of ws.srePlatform?.up ?? []) found.push({ ...entry, cwd: dir });
    }
  }
  const ports = new Map<number, string>();
  for (const e of found) {
    const other = ports.get(e.port);
    if (other) throw new Error(`port ${e.port} is claimed by both ${other} and ${e.name}`);
    ports.set(e.port, e.name);
  }
  return found;
}

const LOOPBACK_URL = /^(https?:\/\/(?:127\.0\.0\.1|localhost|\[::1\]):)(\d+)(?=[/?#]|$)/i;

/** `value` with its port shifted by `offset` when it is a loopback URL whose port a service declares. */
export function shiftPeerUrl(value: string, declaredPorts: ReadonlySet<number>, offset: number): string {
  return value.replace(LOOPBACK_URL, (whole, prefix: string, port: string) =>
    declaredPorts.has(Number(port)) ? `${prefix}${Number(port) + offset}` : whole,
  );
}

/**
 * The environment one service starts with: the caller's, then the service's defaults for what the
 * caller did not set (peer URLs shifted by the offset), then HOST and PORT, which are make up's.
 * `entries` are the declared entries, before the offset.
 */
export function serviceEnv(
  entry: UpEntry,
  entries: readonly UpEntry[],
  offset: number,
  callerEnv: NodeJS.ProcessEnv,
): NodeJS.ProcessEnv {
  const declared = new Set(entries.map((e) => e.port));
  const defaults: Record<string, string> = {};
  for (const [name, value] of Object.entries(entry.env ?? {})) {
    // An empty variable counts as unset, as in the services' own configuration.
    if (!callerEnv[name]) defaults[name] = shiftPeerUrl(value, declared, offset);
  }
  return { ...callerEnv, ...defaults, HOST: '127.0.0.1', PORT: String(entry.port + offset) };
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => {
      done(false);
    });
  });
}

const LEVEL_COLOURS: Record<string, string> = { error: '31', fatal: '31', warn: '33', info: '32', debug: '90' };

/** Renders one JSON log line for a terminal; anything else passes through. */
export function formatLine(name: string, line: string, colour = process.stdout.isTTY): string {
  const paint = (code: string, text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `${paint('36', name.padEnd(18))} ${line}`;
  }
  const { level, time, msg, service: _s, version: _v, pid: _p, name: _n, hostname: _h, ...rest } = record;
  const lvl = typeof level === 'string' ? level : 'info';
  const at = typeof time === 'string' ? time.slice(11, 23) : '';
  const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
  return `${paint('36', name.padEnd(18))} ${at} ${paint(LEVEL_COLOURS[lvl] ?? '0', lvl.padEnd(5))} ${String(msg)}${extra}`;
}

function pipeLines(name: string, stream: NodeJS.ReadableStream, out: NodeJS.WritableStream) {
  let buffer = '';
  stream.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffer.indexOf('\n')) !== -1) {
      out.write(`${formatLine(name, buffer.slice(0, newline))}\n`);
      buffer = buffer.slice(newline + 1);
    }
  });
}

function start(entry: UpEntry & { cwd: string }, env: NodeJS.ProcessEnv): Running {
  const child = spawn(process.execPath, [entry.entry], {
    cwd: entry.cwd,
    // Own process group: Ctrl-C reaches only this supervisor, which then stops each service
    // once, gracefully, instead of every process receiving the signal at the same time.
    detached: true,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pipeLines(entry.name, child.stdout, process.stdout);
  pipeLines(entry.name, child.stderr, process.stderr);
  const exited = new Promise<number | string>((done) =>
    child.once('exit', (code, signal) => {
      done(code ?? signal ?? 'unknown');
    }),
  );
  return { ...entry, child, exited };
}

/** Starts moto (installing it into the tool cache first if needed) and waits until it answers. */
async function startAwsEmulator(port: number): Promise<{ endpoint: string; child: ChildProcess }> {
  execFileSync(join(ROOT, 'tools/install'), ['moto'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const bin = execFileSync(join(ROOT, 'tools/install'), ['--path', 'moto'], { encoding: 'utf8' }).trim();
  const child = spawn(join(bin, 'moto_server'), ['-H', '127.0.0.1', '-p', String(port)], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  const endpoint = `http://127.0.0.1:${port}`;
  const wait = await waitForProbe(`${endpoint}/moto-api/`, {
    timeoutMs: READY_TIMEOUT_MS,
    exited: () => child.exitCode,
  });
  if (!wait.ok) {
    child.kill('SIGKILL');
    throw new Error(`the AWS emulator (moto) did not start on ${endpoint}: ${wait.last}\n${err}`);
  }
  return { endpoint, child };
}

function runSetup(entry: UpEntry & { cwd: string }, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [entry.setup!], { cwd: entry.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    pipeLines(`${entry.name} setup`, child.stdout, process.stdout);
    pipeLines(`${entry.name} setup`, child.stderr, process.stderr);
    child.once('exit', (code) =>
      code === 0 ? done() : fail(new Error(`${entry.name}'s setup ${entry.setup} exited with ${code}`)),
    );
  });
}

async function waitReady(service: Running): Promise<void> {
  const wait = await waitForProbe(`http://127.0.0.1:${service.port}/readyz`, {
    timeoutMs: READY_TIMEOUT_MS,
    exited: () => service.child.exitCode,
  });
  if (!wait.ok && wait.exitCode !== undefined) throw new Error(`${service.name} exited with ${wait.exitCode}`);
  if (!wait.ok) throw new Error(`${service.name} not ready after ${READY_TIMEOUT_MS / 1000}s: ${wait.last}`);
}

async function stopAll(running: Running[]): Promise<boolean> {
  let clean = true;
  await Promise.all(
    running.map(async (service) => {
      if (service.child.exitCode !== null || service.child.signalCode !== null) return;
      service.child.kill('SIGTERM');
      const timer = setTimeout(() => {
        process.stderr.write(`${service.name} did not stop in ${STOP_TIMEOUT_MS / 1000}s: killing it\n`);
        clean = false;
        // The whole process group, so that nothing the service started stays behind.
        if (service.child.pid) process.kill(-service.child.pid, 'SIGKILL');
      }, STOP_TIMEOUT_MS);
      const code = await service.exited;
      clearTimeout(timer);
      if (code !== 0) clean = false;
      process.stdout.write(`stopped ${service.name} (exit ${code})\n`);
    }),
  );
  return clean;
}

async function main(): Promise<number> {
  const offset = Number(process.env['UP_PORT_OFFSET'] ?? 0);
  if (!Number.isInteger(offset) || offset < 0 || offset > 50_000) {
    process.stderr.write(
      `make up: UP_PORT_OFFSET must be an integer from 0 to 50000 (got ${process.env['UP_PORT_OFFSET']})\n`,
    );
    return 1;
  }
  const declared = discover();
  const entries = declared.map((e) => ({ ...e, port: e.port + offset }));
  if (entries.length === 0) {
    process.stdout.write('no services declare srePlatform.up yet: nothing to start\n');
    return 0;
  }
  for (const e of entries) {
    if (await portInUse(e.port)) {
      process.stderr.write(`port ${e.port} (${e.name}) is already in use: is another \`make up\` running?\n`);
      return 1;
    }
  }
  const envs = declared.map((e) => serviceEnv(e, declared, offset, process.env));
  let emulator: { endpoint: string; child: ChildProcess } | undefined;
  /** SIGTERM to the emulator's process group; resolves once it has exited (SIGKILL after 5 s). */
  const stopEmulator = async () => {
    const child = emulator?.child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    process.kill(-child.pid, 'SIGTERM');
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  if (entries.some((e) => e.needs?.includes('aws-emulator')) && !process.env['AWS_ENDPOINT_URL']) {
    const port = AWS_EMULATOR_PORT + offset;
    if (await portInUse(port)) {
      process.stderr.write(`port ${port} (the AWS emulator) is already in use: is another \`make up\` running?\n`);
      return 1;
    }
    emulator = await startAwsEmulator(port);
    process.on('exit', () => {
      if (emulator?.child.pid && emulator.child.exitCode === null) process.kill(-emulator.child.pid, 'SIGKILL');
    });
  }
  try {
    for (const [i, e] of entries.entries()) {
      if (e.needs?.includes('aws-emulator') && emulator) applyAwsEmulatorEnv(envs[i]!, emulator.endpoint, process.env);
      if (e.setup) await runSetup(e, envs[i]!);
    }
  } catch (err) {
    process.stderr.write(`${String(err)}\n`);
    await stopEmulator();
    return 1;
  }
  const running = entries.map((e, i) => start(e, envs[i]!));
  let stopping: Promise<boolean> | undefined;
  const stop = (why: string) => {
    if (!stopping) {
      process.stdout.write(`\n${why}: stopping ${running.length} service(s)...\n`);
      stopping = stopAll(running).finally(stopEmulator);
    }
    return stopping;
  };
  const stopped = new Promise<number>((done) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => {
        void stop(signal).then((clean) => {
          done(clean ? 0 : 1);
        });
      });
    }
    for (const service of running) {
      void service.exited.then((code) => {
        if (stopping) return;
        process.stderr.write(`${service.name} exited unexpectedly (${code})\n`);
        void stop('a service exited').then(() => {
          done(1);
        });
      });
    }
  });
  try {
    await Promise.all(running.map(waitReady));
  } catch (err) {
    process.stderr.write(`${String(err)}\n`);
    await stop('start-up failed');
    return 1;
  }
  const rows = running.map((s) => `  ${s.name.padEnd(20)} http://127.0.0.1:${s.port}   (/readyz /metrics)`);
  // Where each service's peers are, as each service got them (only the name for a caller's own
  // value, which may hold a secret).
  const peers = declared.flatMap((e, i) =>
    Object.keys(e.env ?? {})
      .filter((name) => name.endsWith('_URL'))
      .map((name) =>
        !process.env[name]
          ? `  ${e.name.padEnd(20)} ${name}=${envs[i]![name]}`
          : `  ${e.name.padEnd(20)} ${name} from your environment`,
      ),
  );
  if (emulator) rows.push(`  ${'aws-emulator (moto)'.padEnd(20)} ${emulator.endpoint}   (DynamoDB, S3)`);
  process.stdout.write(
    `\nsre-platform is up:\n${rows.join('\n')}\n${peers.length > 0 ? `\npeers:\n${peers.join('\n')}\n` : ''}\nCtrl-C stops everything.\n\n`,
  );
  return stopped;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`make up: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
