// `make release`: everything of a release that builds without a container engine or the network, into dist/release:
//
//   deployment-api-<target>, deployctl-<target>   standalone binaries (Node's single executable applications: the
//                                                 esbuild bundle as CommonJS, injected into the pinned Node binary
//                                                 of that target with postject)
//   charts/<name>-<version>.tgz                   `helm package` of every chart in the repository
//   sbom/<workspace>.cdx.json                     CycloneDX SBOM of each service's production tree (cyclonedx-npm)
//   CHANGELOG.md                                  commit messages since the previous tag, grouped by area
//   SHA256SUMS                                    of every file above
//
// Images, their SBOM and provenance attestations, signatures and the push to a registry are CI's
// (.github/workflows; docs/delivery.md): they need a container engine, a registry and an OIDC identity.
//
// Env: VERSION (default: `git describe --tags --always --dirty`), RELEASE_TARGETS (default: this machine's, e.g.
// linux-x64), RELEASE_OUT (default dist/release). A target other than this machine's needs its Node binary in the
// cache, where `RELEASE_FETCH_NODE=1` (CI) installs it from the npm registry's node-<target> package, the package
// tools/install takes this machine's Node from; never fetched otherwise, so that `make release` stays offline.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { bundle, readManifest, ROOT } from '../build/bundle.ts';
import { changelog } from './changelog.ts';

/** What becomes a standalone binary: the workspace, and which of its bundle entries, under which name. */
const BINARIES = [
  // The server's young generation capped as in its image (services/deployment-api/Dockerfile).
  {
    workspace: 'services/deployment-api',
    entry: 'main',
    name: 'deployment-api',
    execArgv: ['--max-semi-space-size=4'],
  },
  { workspace: 'services/deployment-api', entry: 'deployctl', name: 'deployctl', execArgv: [] },
];
/** Node's fuse for single executable applications (doc/api/single-executable-applications.md). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const CACHE =
  process.env['SRE_PLATFORM_CACHE'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'sre-platform');

const say = (s: string) => process.stderr.write(`==> release: ${s}\n`);

function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  return execFileSync(cmd, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? process.env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 256 * 1024 * 1024,
  });
}

function tool(name: string): string {
  return join(run(join(ROOT, 'tools/install'), ['--path', name]).trim(), name);
}

export function hostTarget(): string {
  const arch = { x64: 'x64', arm64: 'arm64' }[process.arch as string];
  const os = { linux: 'linux', darwin: 'darwin' }[process.platform as string];
  if (!arch || !os) throw new Error(`release: no standalone binaries for ${process.platform}-${process.arch}`);
  return `${os}-${arch}`;
}

export function releaseVersion(): string {
  if (process.env['VERSION']) return process.env['VERSION'];
  try {
    return run('git', ['describe', '--tags', '--always', '--dirty']).trim().replace(/^v/, '');
  } catch {
    return readManifest('.').version;
  }
}

/** The Node binary of a target: this process's for this machine, else the cache's (installed only when asked). */
function nodeFor(target: string): string {
  if (target === hostTarget()) return process.execPath;
  const version = process.versions.node;
  const prefix = join(CACHE, 'release-node', version, target);
  const bin = join(prefix, 'node_modules', `node-${target}`, 'bin', 'node');
  if (!existsSync(bin)) {
    if (process.env['RELEASE_FETCH_NODE'] !== '1')
      throw new Error(
        `release: no Node ${version} binary for ${target} in ${prefix}; RELEASE_FETCH_NODE=1 installs it ` +
          `(npm install --prefix ${prefix} node-${target}@${version})`,
      );
    say(`installing node-${target}@${version} from the npm registry`);
    // --force: the package declares os/cpu, which npm otherwise refuses on another platform.
    run('npm', [
      'install',
      '--prefix',
      prefix,
      '--no-save',
      '--no-audit',
      '--no-fund',
      '--force',
      `node-${target}@${version}`,
    ]);
  }
  return bin;
}

async function binaries(out: string, version: string, targets: string[], work: string): Promise<string[]> {
  const files: string[] = [];
  for (const workspace of [...new Set(BINARIES.map((b) => b.workspace))]) {
    const dir = join(work, basename(workspace));
    const r = await bundle(workspace, { out: dir, format: 'cjs', version });
    if (r.externals.length > 0)
      throw new Error(`release: ${workspace} imports ${r.externals.join(', ')}, which a binary cannot carry`);
  }
  const postject = join(ROOT, 'node_modules/.bin/postject');
  for (const b of BINARIES) {
    const dir = join(work, basename(b.workspace));
    // The blob is the same for every target (no code cache or snapshot, which are tied to this machine's V8 build).
    const config = join(work, `${b.name}.sea.json`);
    const blob = join(work, `${b.name}.blob`);
    writeFileSync(
      config,
      JSON.stringify({
        main: join(dir, `${b.entry}.js`),
        output: blob,
        disableExperimentalSEAWarning: true,
        useCodeCache: false,
        useSnapshot: false,
        // Stack traces name src/ files: the CommonJS bundle carries its (own-code-only) map inline.
        execArgv: ['--enable-source-maps', ...b.execArgv],
      }),
    );
    run(process.execPath, ['--experimental-sea-config', config]);
    for (const target of targets) {
      const file = join(out, `${b.name}-${version}-${target}`);
      copyFileSync(nodeFor(target), file);
      chmodSync(file, 0o755);
      const args = [file, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE];
      // macOS: the blob goes into a segment of its own, and the binary must be signed again (ad hoc at least, or
      // Apple silicon refuses it), which only macOS's codesign does: on Linux a darwin binary stays unsigned.
      const darwin = target.startsWith('darwin');
      const resign = darwin && process.platform === 'darwin';
      if (darwin) args.push('--macho-segment-name', 'NODE_SEA');
      if (resign) run('codesign', ['--remove-signature', file]);
      run(postject, args);
      if (resign) run('codesign', ['--sign', '-', file]);
      else if (darwin) say(`${basename(file)} is unsigned: sign it on macOS (codesign --sign - FILE)`);
      files.push(file);
      say(`${relative(ROOT, file)} (${(statSync(file).size / 1048576).toFixed(0)} MiB)`);
    }
  }
  return files;
}

function charts(out: string, version: string): string[] {
  const helm = tool('helm');
  const dirs = [
    ...readdirSync(join(ROOT, 'services')).map((s) => join(ROOT, 'services', s, 'chart')),
    ...readdirSync(join(ROOT, 'platform')).map((p) => join(ROOT, 'platform', p, 'chart')),
  ].filter((d) => existsSync(join(d, 'Chart.yaml')));
  const dest = join(out, 'charts');
  mkdirSync(dest, { recursive: true });
  const files: string[] = [];
  for (const dir of dirs) {
    const line = run(helm, ['package', dir, '--destination', dest, '--app-version', version]).trim();
    const file = /saved it to: (.*)$/.exec(line)?.[1];
    if (!file) throw new Error(`release: helm package ${dir}: ${line}`);
    files.push(file);
    say(`${relative(ROOT, file)}`);
  }
  return files;
}

/** Every workspace with a Dockerfile or a binary: what a release ships. */
function shippedWorkspaces(): string[] {
  return readdirSync(join(ROOT, 'services'))
    .filter((s) => existsSync(join(ROOT, 'services', s, 'Dockerfile')))
    .sort()
    .map((s) => `services/${s}`);
}

function sboms(out: string): string[] {
  const dest = join(out, 'sbom');
  mkdirSync(dest, { recursive: true });
  const cli = join(ROOT, 'node_modules/.bin/cyclonedx-npm');
  const files: string[] = [];
  for (const workspace of shippedWorkspaces()) {
    const file = join(dest, `${basename(workspace)}.cdx.json`);
    // The production tree as npm resolves it from the lockfile (offline: npm ls); no dev dependency.
    run(cli, [
      '--workspace',
      workspace,
      '--omit',
      'dev',
      '--output-reproducible',
      '--output-format',
      'JSON',
      '--output-file',
      file,
    ]);
    files.push(file);
    say(`${relative(ROOT, file)}`);
  }
  return files;
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

export async function release(): Promise<{ out: string; version: string; files: string[] }> {
  const version = releaseVersion();
  const targets = (process.env['RELEASE_TARGETS'] || hostTarget()).split(/[\s,]+/).filter(Boolean);
  const out = process.env['RELEASE_OUT'] ?? join(ROOT, 'dist/release');
  const work = join(out, '.work');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  say(`version ${version}, targets ${targets.join(' ')} -> ${relative(process.cwd(), out) || out}`);
  const files = [...(await binaries(out, version, targets, work)), ...charts(out, version), ...sboms(out)];
  const notes = join(out, 'CHANGELOG.md');
  writeFileSync(notes, changelog(version));
  files.push(notes);
  rmSync(work, { recursive: true, force: true });
  writeFileSync(
    join(out, 'SHA256SUMS'),
    files
      .map((f) => `${sha256(f)}  ${relative(out, f)}\n`)
      .sort()
      .join(''),
  );
  say(`SHA256SUMS of ${files.length} files`);
  return { out, version, files };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await release();
}
