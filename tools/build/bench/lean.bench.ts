// Every service as its image runs it, TypeScript (the sources with type stripping, the layout the images had
// before issue 17) against the esbuild bundle (tools/build/bundle.ts, what the images run now), interleaved in
// the same run: time from spawn to /readyz 200, and resident memory once idle (with the process's own part: see
// memoryMiB). The bundle runs with --no-experimental-strip-types (it could not load a .ts file): as its image
// starts it (main.js, the loader that maps stack traces to our sources and reads the compile cache the image's
// build filled, with the NODE_OPTIONS and MALLOC_ARENA_MAX its Dockerfile sets), the same without the compile
// cache, with source maps turned on by --enable-source-maps instead (what the images did before; main.bundle.js
// itself, so no compile cache either), without source maps (the same), and as the image but with glibc's default
// number of malloc arenas.
//
// Targets (issue 17): idle under 70 MiB and ready under 500 ms for every service. deployment-api runs against
// its own local control plane (one Deployment; its 1,000-Deployment figure is deployment-api.bench.ts's).
// Two floors come first, bundled and started the same way (floor/): a bare node:http server (what Node itself
// costs) and the kit with no routes of its own (what every service costs before its own code and clients); each
// service's line then says how far above the kit floor it is.
//
//   make bench BENCH=lean        BENCH_ROUNDS=N (default 5), BENCH_IDLE_MS (default 3000)
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';
import postgres from 'postgres';

import { freePort, waitForProbe } from '@sre-platform/service-kit/testing';
import { startCluster } from '../../../packages/test-platform/src/cluster.ts';
import { startMoto } from '../../../packages/test-platform/src/moto.ts';
import { startPostgres } from '../../../packages/test-platform/src/postgres.ts';
import { compileCacheLoaders } from '../../../packages/test-platform/src/service-images.ts';
import { createAuthority } from '../../../services/deployment-api/scripts/pki.ts';
import { ensureResources, resourcesEnv } from '../../../services/users-api/scripts/ensure-resources.ts';
import { bundle, readManifest, ROOT } from '../bundle.ts';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const IDLE_MS = Number(process.env['BENCH_IDLE_MS'] ?? 3000);
const work = mkdtempSync(join(tmpdir(), 'lean-bench-'));
const out = (line: string) => process.stdout.write(`${line}\n`);

interface Variant {
  name: string;
  cwd: string;
  args: string[];
  env?: Record<string, string>;
  /** Runs before each start of this variant. */
  before?: () => void;
}

/** Every service with a Dockerfile: the images (BENCH_SERVICES=a,b for some). */
const only = process.env['BENCH_SERVICES']?.split(',');
const services = readdirSync(join(ROOT, 'services'))
  .filter((s) => existsSync(join(ROOT, 'services', s, 'Dockerfile')) && (!only || only.includes(s)))
  .sort();

// What each service needs to become ready as it runs in a cluster: its `make up` environment, a real PostgreSQL
// for those on @sre-platform/database (in a cluster they have one; the embedded PGlite default costs about 400 MiB
// and 10 s of start-up, measured once below), for deployment-api a control plane, and for users-api its table and
// bucket on moto (the local AWS emulator).
let stopCluster: (() => Promise<void>) | undefined;
let pg: Awaited<ReturnType<typeof startPostgres>> | undefined;
let moto: Awaited<ReturnType<typeof startMoto>> | undefined;
async function environment(service: string): Promise<Record<string, string>> {
  const manifest = readManifest(`services/${service}`) as {
    dependencies?: Record<string, string>;
    srePlatform?: { up?: { env?: Record<string, string> }[] };
  };
  const base: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    ...(manifest.srePlatform?.up?.[0]?.env ?? {}),
  };
  if (manifest.dependencies?.['@sre-platform/database']) {
    pg ??= await startPostgres();
    const db = `bench_${service.replaceAll('-', '_')}`;
    const admin = postgres(pg.info.adminUrl, { max: 1, onnotice: () => undefined });
    await admin.unsafe(`drop database if exists ${db}`);
    await admin.unsafe(`create database ${db}`);
    await admin.end();
    base['DATABASE_URL'] = pg.info.adminUrl.replace(/\/postgres$/, `/${db}`);
  }
  if (service === 'users-api') {
    moto ??= await startMoto();
    const { endpoint, region } = moto.info;
    const resources = {
      endpoint,
      region,
      table: 'lean-users',
      bucket: 'lean-avatars',
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    };
    await ensureResources(resources);
    return { ...base, ...resourcesEnv(resources) };
  }
  if (service !== 'deployment-api') return base;
  const { info, stop } = await startCluster();
  stopCluster = stop;
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(info.kubeconfig);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const crd = readFileSync(join(ROOT, 'services/deployment-api/chart/crds/manageddeployments.yaml'), 'utf8');
  for (const o of k8s.loadAllYaml(crd) as k8s.KubernetesObject[])
    await objects.patch(o, undefined, undefined, 'bench', true, k8s.PatchStrategy.ServerSideApply);
  const ca = await createAuthority('bench CA');
  const server = await ca.issue({ commonName: 'deployment-api', usage: 'server', ips: ['127.0.0.1'] });
  for (const [f, c] of Object.entries({ 'ca.crt': ca.cert, 'tls.crt': server.cert, 'tls.key': server.key }))
    writeFileSync(join(work, f), c);
  return {
    ...base,
    TLS_CERT_FILE: join(work, 'tls.crt'),
    TLS_KEY_FILE: join(work, 'tls.key'),
    TLS_CLIENT_CA_FILE: join(work, 'ca.crt'),
    KUBECONFIG: info.kubeconfig,
  };
}

/**
 * Resident memory, and the part of it that is the process's own (RssAnon: its heaps, the bundle's source, its
 * stacks). The rest is file pages, almost all of them the node binary's: clean, shared through the page cache with
 * every process that maps the same file (on a Kubernetes node, every container started from the same base layer).
 */
function memoryMiB(pid: number): { rss: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]);
  return { rss: kib('VmRSS') / 1024, anon: kib('RssAnon') / 1024 };
}

async function measure(
  variant: Variant,
  env: Record<string, string>,
): Promise<{ readyMs: number; rss: number; anon: number }> {
  const port = await freePort();
  const apiPort = await freePort();
  variant.before?.();
  const t0 = performance.now();
  const child = spawn(process.execPath, variant.args, {
    cwd: variant.cwd,
    env: { ...process.env, ...env, ...variant.env, PORT: String(port), API_PORT: String(apiPort), NODE_OPTIONS: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  try {
    const ready = await waitForProbe(`http://127.0.0.1:${port}/readyz`, {
      timeoutMs: 60_000,
      intervalMs: 5,
      exited: () => child.exitCode,
    });
    if (!ready.ok) throw new Error(`${variant.name}: not ready: ${ready.last}\n${err}`);
    const readyMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, IDLE_MS));
    return { readyMs, ...memoryMiB(child.pid!) };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Samples {
  readyMs: number[];
  rss: number[];
  anon: number[];
}

/** Every variant ROUNDS times, interleaved, the order turned each round so that none always runs on a warmer machine. */
async function rounds(variants: Variant[], env: Record<string, string>): Promise<Map<string, Samples>> {
  const seen = new Map<string, Samples>(variants.map((v) => [v.name, { readyMs: [], rss: [], anon: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      const m = await measure(v, env);
      const s = seen.get(v.name)!;
      s.readyMs.push(m.readyMs);
      s.rss.push(m.rss);
      s.anon.push(m.anon);
    }
  }
  return seen;
}

/**
 * The bundle's compile cache (tools/build/bundle.ts, loader()) as its image holds it: filled by each of `loaders`
 * run with `flags` and --version (the Dockerfile's compile-cache stage), then put back before each start (the
 * returned function), because a start that may write it adds what it compiled when it exits, which the image's
 * read-only copy never does.
 */
function imageCompileCache(dir: string, flags: string[], env: Record<string, string>, loaders: string[]): () => void {
  const cache = join(dir, '.compile-cache');
  const warmed = mkdtempSync(join(work, 'compile-cache-'));
  for (const loader of loaders)
    execFileSync(process.execPath, [...flags, loader, '--version'], {
      cwd: dir,
      env: { ...process.env, ...env, NODE_OPTIONS: '' },
    });
  cpSync(cache, warmed, { recursive: true });
  return () => {
    rmSync(cache, { recursive: true, force: true });
    cpSync(warmed, cache, { recursive: true });
  };
}

const line = (label: string, name: string, s: Samples) =>
  `${label.padEnd(18)} ${name.padEnd(25)} ready p50 ${median(s.readyMs).toFixed(0).padStart(5)} ms` +
  `  idle RSS p50 ${median(s.rss).toFixed(0).padStart(4)} MiB (own ${median(s.anon).toFixed(0).padStart(3)})`;

try {
  // The floors, as the images start a bundle: through its loader, type stripping off, two malloc arenas.
  const floorDir = join(work, 'floor');
  await bundle('tools/build/bench/floor', { out: floorDir });
  const floor = (name: string, entry: string): Variant => {
    const flags = ['--no-experimental-strip-types'];
    const env = { MALLOC_ARENA_MAX: '2' };
    return {
      name,
      cwd: floorDir,
      args: [...flags, entry],
      env,
      before: imageCompileCache(floorDir, flags, env, [entry]),
    };
  };
  const floors = await rounds([floor('node:http', 'http.js'), floor('kit, no routes', 'kit.js')], {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
  });
  const kit = floors.get('kit, no routes')!;
  for (const [name, s] of floors) out(line('floor', name, s));
  const aboveKit = (s: Samples) =>
    `above the kit: RSS +${(median(s.rss) - median(kit.rss)).toFixed(0)}, own +${(median(s.anon) - median(kit.anon)).toFixed(0)} MiB`;

  for (const service of services) {
    const dir = join(work, service);
    await bundle(`services/${service}`, { out: dir });
    const entry = join(ROOT, 'services', service, 'src/main.ts');
    // The node options the image sets (for some a young-generation cap), and type stripping off.
    const dockerfile = readFileSync(join(ROOT, 'services', service, 'Dockerfile'), 'utf8');
    const imageOptions = (/NODE_OPTIONS=(?:"([^"]*)"|(\S+))/.exec(dockerfile) ?? []).slice(1).find(Boolean) ?? '';
    const imageFlags = ['--no-experimental-strip-types', ...imageOptions.split(' ').filter(Boolean)];
    const arenas = /\bMALLOC_ARENA_MAX=(\d+)/.exec(dockerfile)?.[1];
    const imageEnv: Record<string, string> = arenas ? { MALLOC_ARENA_MAX: arenas } : {};
    // Every loader the Dockerfile's compile-cache stage runs (main.js; deployctl.js, webhook-app's delivery thread).
    const loaders = compileCacheLoaders(dockerfile).map((l) => `${l}.js`);
    const asImage = imageCompileCache(dir, imageFlags, imageEnv, loaders);
    const variants: Variant[] = [
      { name: 'ts', cwd: ROOT, args: [entry] },
      { name: 'bundle', cwd: dir, args: [...imageFlags, 'main.js'], env: imageEnv, before: asImage },
      {
        name: 'bundle, no compile cache',
        cwd: dir,
        args: [...imageFlags, 'main.js'],
        env: { ...imageEnv, NODE_DISABLE_COMPILE_CACHE: '1' },
      },
      {
        name: 'bundle, maps by flag',
        cwd: dir,
        args: [...imageFlags, '--enable-source-maps', 'main.bundle.js'],
        env: imageEnv,
      },
      { name: 'bundle, no source maps', cwd: dir, args: [...imageFlags, 'main.bundle.js'], env: imageEnv },
      ...(arenas
        ? [{ name: 'bundle, default arenas', cwd: dir, args: [...imageFlags, 'main.js'], before: asImage }]
        : []),
    ];
    const seen = await rounds(variants, await environment(service));
    const ts = seen.get('ts')!;
    for (const v of variants) {
      const s = seen.get(v.name)!;
      out(
        line(service, v.name, s) +
          (v.name === 'ts'
            ? ''
            : `  (vs ts: ready ${(median(s.readyMs) / median(ts.readyMs)).toFixed(2)}x, RSS ${(median(s.rss) / median(ts.rss)).toFixed(2)}x)`) +
          (v.name === 'bundle' ? `  ${aboveKit(s)}` : ''),
      );
    }
    await stopCluster?.();
    stopCluster = undefined;
  }
} finally {
  await stopCluster?.();
  await pg?.stop();
  await moto?.stop();
  rmSync(work, { recursive: true, force: true });
}
