// A PostgreSQL server for one test run (a real server binary from the npm registry). PostgreSQL
// refuses to run as root, so under root (containers, CI) it runs as nobody from a copy of the
// binaries that nobody can read.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import postgres from 'postgres';

import { freePort, startManaged, waitFor } from './process.ts';
import { toolBin } from './tools.ts';

export interface PostgresInfo {
  /** Connection URL of the maintenance database; tests create their own databases. */
  adminUrl: string;
  host: string;
  port: number;
  user: string;
}

const NOBODY = 65534;

export interface PostgresOptions {
  /** fsync and synchronous commit on, as in production; off by default, for fast tests. */
  durable?: boolean;
  /** Further server settings (`-c name=value`), e.g. shared_buffers for benchmarks. */
  settings?: Record<string, string>;
}

export async function startPostgres(options: PostgresOptions = {}) {
  const bin = toolBin('postgres');
  const dir = mkdtempSync(join(tmpdir(), 'sre-platform-postgres-'));
  chmodSync(dir, 0o755);
  const asRoot = process.getuid?.() === 0;
  let pgBin = bin;
  if (asRoot) {
    // The cache is under /root (mode 700): give nobody a readable copy of the server (60 MB).
    const native = join(bin, '..');
    cpSync(native, join(dir, 'native'), { recursive: true, verbatimSymlinks: true });
    pgBin = join(dir, 'native', 'bin');
  }
  const data = join(dir, 'data');
  mkdirSync(data, { mode: 0o700 });
  if (asRoot) chownSync(data, NOBODY, NOBODY);
  const asUser = (cmd: string, args: string[]): [string, string[]] =>
    asRoot
      ? ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--reset-env', cmd, ...args]]
      : [cmd, args];

  const [initCmd, initArgs] = asUser(join(pgBin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '--encoding=UTF8',
    '--no-sync',
    '--no-instructions',
  ]);
  try {
    execFileSync(initCmd, initArgs, { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${String((err as { stderr?: Buffer }).stderr ?? err)}`, { cause: err });
  }
  const port = await freePort();
  const settings = options.durable
    ? []
    : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
  const [cmd, args] = asUser(join(pgBin, 'postgres'), [
    '-D',
    data,
    '-p',
    String(port),
    '-k',
    data,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'max_connections=200',
    ...settings,
    ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ]);
  let proc = startManaged('postgres', cmd, args);
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const answers = () =>
    waitFor(
      'postgres',
      async () => {
        const sql = postgres(adminUrl, { max: 1, onnotice: () => undefined, connect_timeout: 2 });
        try {
          await sql`select 1`;
          return true;
        } finally {
          await sql.end();
        }
      },
      30_000,
      proc,
    );
  // SIGINT is PostgreSQL's fast shutdown: it ends open sessions, as a crash or failover does to clients
  // (SIGTERM would wait for every client to disconnect).
  const halt = async () => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill('SIGINT');
      await proc.exited;
    }
    await proc.stop();
  };
  const stop = async () => {
    await halt();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await answers();
  } catch (err) {
    await stop();
    throw err;
  }
  const info: PostgresInfo = { adminUrl, host: '127.0.0.1', port, user: 'postgres' };
  return {
    info,
    stop,
    /** Stops the server (a fast shutdown: sessions are ended), keeping its data and its port. */
    pause: halt,
    /** Starts the paused server again on the same port and data; resolves once it answers. */
    resume: async () => {
      proc = startManaged('postgres', cmd, args);
      await answers();
    },
  };
}
