// The checks every service image gets: the Dockerfile's shape (multi-stage, distroless Node 24, numeric non-root
// user, the esbuild bundle built in the build stage and nothing else in the runtime stage, every workspace
// manifest copied), then the image itself, built from that Dockerfile by BuildKit (make images,
// tools/image/build) and run as real containers on the real node: as its numeric non-root user under
// runAsNonRoot, on a read-only root filesystem, with no TypeScript file at all and, in node_modules, only
// packages of its production tree (the bundle's externals), answering /readyz with type stripping switched off.
import { execFileSync } from 'node:child_process';
import { readFileSync, globSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type * as k8s from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';

import { cluster, uniqueName, useNamespace } from './index.ts';
import { startRealNode } from './node.ts';
import { onRealNode, RESTRICTED, runPodToCompletion, runPodUntilReady } from './pods.ts';
import { compileCacheLoaders, serviceImage, type ServiceImage } from './service-images.ts';
import { REPO_ROOT } from './tools.ts';

/** Packages no service image may carry: test, build and tooling dependencies. */
const NEVER_IN_AN_IMAGE = [
  'vitest',
  'typescript',
  'eslint',
  'prettier',
  'autocannon',
  'yaml',
  'esbuild',
  '@aws-sdk/client-s3',
];

/** The package names of a workspace's production tree, as npm computes it from the lockfile. */
export function productionPackages(workspace: string): Set<string> {
  let out: string;
  try {
    out = execFileSync('npm', ['ls', '--workspace', workspace, '--omit=dev', '--all', '--parseable'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    // npm ls exits 1 when it also finds problems elsewhere in the tree; its listing is still complete.
    out = (err as { stdout?: string }).stdout ?? '';
  }
  return new Set(
    out
      .split('\n')
      .map((p) => /node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(p)?.[1])
      .filter((n): n is string => n !== undefined),
  );
}

/**
 * What a probe run in the image reports: its user, whether / is writable, shells, the TypeScript files under /app,
 * and the packages in /app/node_modules (top level and nested).
 */
export const CONTENTS_PROBE = `const fs = require('node:fs'); const path = require('node:path');
  let rootWritable = true;
  try { fs.writeFileSync('/app/probe', 'x'); } catch (e) { rootWritable = e.code; }
  const ts = []; const packages = [];
  const walk = (dir) => { for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p); else if (/\\.(c|m)?ts$/.test(e.name) && !e.name.endsWith('.d.ts') && !/\\.d\\.[cm]ts$/.test(e.name)) ts.push(p); } };
  walk('/app');
  const list = (nm) => { if (!fs.existsSync(nm)) return; for (const n of fs.readdirSync(nm)) {
    if (n.startsWith('.')) continue;
    const names = n.startsWith('@') ? fs.readdirSync(path.join(nm, n)).map((s) => n + '/' + s) : [n];
    for (const name of names) { packages.push(name); list(path.join(nm, name, 'node_modules')); } } };
  list('/app/node_modules');
  console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), rootWritable, ts, packages,
    shell: ['/bin/sh', '/bin/bash', '/usr/bin/sh'].filter((f) => fs.existsSync(f)) }));`;

export interface ImageContents {
  uid: number;
  gid: number;
  rootWritable: true | string;
  shell: string[];
  ts: string[];
  packages: string[];
}

export interface ImageSpec {
  /** The folder under services/. */
  service: string;
  /** The PORT the image's ENV sets. */
  port: number;
  /** More packages that must not be installed (e.g. another service's production dependencies). */
  mustNotContain?: string[];
  /** Packages that must be installed (the service's own production dependencies). */
  mustContain?: string[];
  /**
   * The environment the service starts with from the image's own command on the real node (it must become
   * Ready); omitted, only the commands run.
   */
  env?: Record<string, string>;
  /** One-shot runs of the image's entrypoint (node) with these arguments, and a text their log must contain. */
  commands?: { args: string[]; logContains: string }[];
}

/** NODE_OPTIONS for runs that prove no TypeScript is loaded: type stripping off (main.js turns on source maps). */
export const NO_TYPESCRIPT = '--no-experimental-strip-types';

/** The assertions on an image's contents (CONTENTS_PROBE's report), wherever the probe ran. */
export function expectLeanContents(spec: ImageSpec, seen: ImageContents, uid: number): void {
  expect(seen.uid).toBe(uid);
  expect(seen.uid).not.toBe(0);
  expect(seen.rootWritable).toBe('EROFS');
  expect(seen.shell).toEqual([]);
  expect(seen.ts, 'TypeScript files in the image').toEqual([]);
  const production = productionPackages(`services/${spec.service}`);
  const dev = seen.packages.filter((p) => !production.has(p));
  expect(dev, 'packages outside the production tree').toEqual([]);
  // A service's own production dependency is not forbidden to it (users-api needs @aws-sdk/client-s3).
  const never = NEVER_IN_AN_IMAGE.filter((p) => !(spec.mustContain ?? []).includes(p));
  for (const pkg of [...never, ...(spec.mustNotContain ?? [])])
    expect(seen.packages, `${pkg} must not be in the image`).not.toContain(pkg);
  for (const pkg of spec.mustContain ?? []) expect(seen.packages, `${pkg} must be in the image`).toContain(pkg);
}

export function describeImage(spec: ImageSpec): void {
  const dockerfile = readFileSync(join(REPO_ROOT, 'services', spec.service, 'Dockerfile'), 'utf8');
  // One line per instruction: continuation lines (a trailing backslash) joined.
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => /^[A-Z]+ /.test(l));
  const stages = instructions.reduce<string[][]>((acc, line) => {
    if (line.startsWith('FROM ')) acc.push([]);
    acc.at(-1)?.push(line);
    return acc;
  }, []);
  // `FROM [--platform=P] image [AS name]`: a stage's image, and its name.
  const from = (stage: string[]) => {
    const [, image, name] = /^FROM (?:--platform=\S+ )?(\S+)(?: AS (\S+))?$/.exec(stage[0]!) ?? [];
    return { image: image!, name };
  };
  const named = (name: string) => stages.find((st) => from(st).name === name);
  // A stage with every stage it builds on (FROM <stage>), the stage first.
  const chain = (stage: string[]): string[][] => {
    const parent = named(from(stage).image);
    return parent ? [stage, ...chain(parent)] : [stage];
  };
  const runtime = stages.at(-1)!;
  const runtimeChain = chain(runtime);
  const runtimeEnv = runtimeChain
    .flat()
    .filter((l) => l.startsWith('ENV '))
    .join(' ');
  const warm = named('compile-cache');
  /** The loaders the compile-cache stage runs with --version (main.js, and for deployment-api deployctl.js). */
  const warmed = compileCacheLoaders((warm ?? []).join('\n'));

  describe(`${spec.service} Dockerfile`, () => {
    it('is multi-stage and ends on distroless Node 24 as a numeric non-root user, listening on all interfaces', () => {
      expect(stages.length).toBeGreaterThanOrEqual(2);
      expect(from(runtimeChain.at(-1)!).image).toMatch(/^gcr\.io\/distroless\/nodejs24/);
      // runAsNonRoot can only be verified by the kubelet for a numeric user other than 0.
      expect(instructions.filter((l) => l.startsWith('USER ')).at(-1)).toMatch(/^USER [1-9][0-9]*:[1-9][0-9]*$/);
      expect(dockerfile).toMatch(new RegExp(`ENV .*HOST=0\\.0\\.0\\.0.*PORT=${spec.port}\\b`));
    });

    it('builds the bundle in the build stage and runs only the bundle, with source maps', () => {
      const build = stages.slice(0, -1).flat();
      // Architecture-independent output, built once on the builder's platform for every target.
      expect(stages[0]![0]).toMatch(/^FROM --platform=\$BUILDPLATFORM /);
      expect(build).toContainEqual(
        expect.stringMatching(new RegExp(`^RUN node tools/build/bundle\\.ts services/${spec.service} --out /out$`)),
      );
      // Nothing from the build context: only the bundle's directory (its code, maps and kept node_modules), and the
      // compile cache filled from it.
      expect(runtimeChain.flat().filter((l) => l.startsWith('COPY '))).toEqual([
        'COPY --from=build /out ./',
        'COPY --from=compile-cache --chmod=0555 /app/.compile-cache ./.compile-cache',
      ]);
      // Source maps: main.js, the bundle's loader, maps stack traces; the flag would cost about 10 MiB more (bundle.ts).
      expect(runtimeEnv).not.toMatch(/--enable-source-maps\b/);
      expect(runtimeEnv).toMatch(/NODE_ENV=production\b/);
      expect(runtime.at(-1)).toBe('CMD ["main.js"]');
    });

    it("fills the bundle's compile cache with the runtime's own node, ENV and user", () => {
      expect(warm, 'a stage named compile-cache').toBeDefined();
      // The same image and ENV as the runtime (the cache is per Node version, architecture and V8 flags)...
      expect(from(warm!).image).toBe(from(runtime).image);
      expect(warm!.some((l) => l.startsWith('ENV '))).toBe(false);
      // ...run as the runtime's user, on a copy of the bundle it owns, with every loader the image starts.
      const user = (lines: string[]) => lines.filter((l) => l.startsWith('USER ')).at(-1);
      expect(user(warm!)).toBe(user(runtime));
      expect(warm!).toContain('COPY --from=build --chown=65532:65532 /out ./');
      expect(warmed).toContain('main');
    });

    it('copies every workspace manifest, so that npm ci agrees with the lockfile', () => {
      const { workspaces } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
        workspaces: string[];
      };
      const dirs = globSync(
        workspaces.map((w) => `${w}/package.json`),
        { cwd: REPO_ROOT },
      ).map((p) => dirname(p));
      expect(dirs.length).toBeGreaterThan(5);
      for (const dir of dirs) expect(dockerfile).toContain(`COPY ${dir}/package.json `);
    });

    describe('the image, built by BuildKit and run on the real node', () => {
      const ns = useNamespace(`image-${spec.service}`.slice(0, 40));
      let image: ServiceImage;
      beforeAll(async () => {
        await startRealNode(cluster());
        image = await serviceImage(cluster(), spec.service);
      }, 1_200_000);

      // A pod of the image, hardened as our manifests are; runAsNonRoot with no runAsUser: the image's USER counts.
      const pod = (name: string, container: Partial<k8s.V1Container>, volumes?: k8s.V1Volume[]): k8s.V1Pod => ({
        metadata: { name, labels: { app: spec.service } },
        spec: onRealNode({
          securityContext: RESTRICTED.pod,
          terminationGracePeriodSeconds: 5,
          volumes,
          containers: [{ name: 'app', image: image.ref, securityContext: RESTRICTED.container, ...container }],
        }),
      });

      it('runs node as its numeric non-root user, with the service as its command', () => {
        expect(image.config.User).toMatch(/^[1-9][0-9]*(:[1-9][0-9]*)?$/);
        expect(image.config.Entrypoint?.at(-1)).toMatch(/\/node$/);
        expect(image.config.Cmd).toEqual(['main.js']);
      });

      it('holds no TypeScript, only production dependencies, no shell, and cannot write its root filesystem', async () => {
        const run = await runPodToCompletion(ns.name, pod(uniqueName('contents'), { args: ['-e', CONTENTS_PROBE] }));
        expect(run.phase, run.log).toBe('Succeeded');
        const seen = JSON.parse(run.log.trim().split('\n').at(-1)!) as ImageContents;
        expectLeanContents(spec, seen, Number(image.config.User!.split(':')[0]));
      });

      // Node options as the image sets them (its V8 flags are part of the compile cache's key), plus type stripping off.
      const nodeOptions = () =>
        [image.config.Env?.find((e) => e.startsWith('NODE_OPTIONS='))?.slice('NODE_OPTIONS='.length), NO_TYPESCRIPT]
          .filter(Boolean)
          .join(' ');

      it('reads the compile cache its build filled, on its read-only root filesystem, and never writes it', async () => {
        for (const name of warmed) {
          const run = await runPodToCompletion(
            ns.name,
            pod(uniqueName('compile-cache'), {
              args: [`${name}.js`, '--version'],
              env: [
                { name: 'NODE_OPTIONS', value: nodeOptions() },
                { name: 'NODE_DEBUG_NATIVE', value: 'COMPILE_CACHE' },
              ],
            }),
          );
          expect(run.phase, run.log).toBe('Succeeded');
          expect(run.log).toContain(`V8 code cache for ESM file:///app/${name}.bundle.js was accepted`);
          expect(run.log).toContain(`skip persisting ESM file:///app/${name}.bundle.js because cache was the same`);
        }
      });

      if (spec.env) {
        const env = spec.env;
        it('starts from its own command and answers /readyz, with no restart', async () => {
          const ready = await runPodUntilReady(
            ns.name,
            pod(
              uniqueName('service'),
              {
                // Type stripping off: a .ts module anywhere in what the service loads would fail to load.
                env: Object.entries({ ...env, NODE_OPTIONS: nodeOptions() }).map(([name, value]) => ({ name, value })),
                ports: [{ name: 'http', containerPort: spec.port }],
                readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 1, failureThreshold: 300 },
                volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
              },
              [{ name: 'tmp', emptyDir: {} }],
            ),
          );
          expect(ready.status?.containerStatuses?.[0]?.restartCount).toBe(0);
          // From this machine to the pod's own IP on the node's bridge.
          const res = await fetch(`http://${ready.status!.podIP!}:${spec.port}/readyz`);
          expect(res.status).toBe(200);
        });
      }

      for (const command of spec.commands ?? []) {
        it(`runs ${command.args.join(' ')}`, async () => {
          const run = await runPodToCompletion(
            ns.name,
            pod(uniqueName('command'), { args: command.args, env: [{ name: 'NODE_OPTIONS', value: nodeOptions() }] }),
          );
          expect(run.phase, run.log).toBe('Succeeded');
          expect(run.log).toContain(command.logContains);
        });
      }
    });
  });
}
