// Bundles a workspace's entry points into plain JavaScript with esbuild: what images and standalone binaries
// run. Development keeps running the `.ts` sources directly (type stripping); a bundle loads no TypeScript, which
// saves each process the stripper's memory (issue 17: a bare server is 58 MiB as .mjs, 75 MiB as .ts) and its
// start-up, and needs no node_modules beyond the few packages that must stay files.
//
//   node tools/build/bundle.ts <workspace dir> [--out DIR] [--format esm|cjs] [--version V]
//
// Driven by the workspace's package.json, so adding a service is one line there (or none):
//   "srePlatform": { "bundle": { "entries": { "main": "src/main.ts", "deployctl": "src/cli/main.ts" },
//                                "external": ["some-native-addon"] } }
// entries default to { "main": "src/main.ts" }; each becomes <out>/<name>.bundle.js (+ .js.map), started by
// <out>/<name>.js, a loader that maps stack traces to our sources (for our code: see ownSourceMapsOnly), reading the
// map only when a stack trace first names the bundle (loader(): Node's own support, --enable-source-maps or
// setSourceMapsSupport, indexes it at load, which costs an idle service megabytes), and imports it. external adds to
// ALWAYS_EXTERNAL. Whatever stays external and is reached is copied, with its production dependencies, into
// <out>/node_modules from the installed tree (the lockfile's versions), and nothing else: <out> is the whole
// runtime tree. <out>/bundle.json records what was built (entries, externals, version, esbuild's inputs).
// A workspace whose package.json has a "generate" script (deployment-api: code from its .proto files, which is not
// committed) has it run first, as `make deps` does, so that a clean checkout or an image's build stage bundles.
//
// --format cjs is for Node's single executable applications, whose main script is CommonJS on Node 24: it
// allows no external package, and import.meta.url is the executable's file URL.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, globSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { build, type Metafile, type Plugin } from 'esbuild';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Packages that load files next to their own modules (new URL('./x.wasm', import.meta.url)) and so cannot be
 * inlined: PGlite reads pglite.wasm, pglite.data and initdb.wasm beside its chunks.
 */
export const ALWAYS_EXTERNAL = ['@electric-sql/pglite'];

export interface BundleSettings {
  entries: Record<string, string>;
  external: string[];
}

interface Manifest {
  name: string;
  version: string;
  scripts?: Record<string, string>;
  srePlatform?: { bundle?: Partial<BundleSettings> };
}

export function readManifest(workspace: string): Manifest {
  return JSON.parse(readFileSync(join(ROOT, workspace, 'package.json'), 'utf8')) as Manifest;
}

export function bundleSettings(workspace: string): BundleSettings {
  const own = readManifest(workspace).srePlatform?.bundle ?? {};
  return {
    entries: own.entries ?? { main: 'src/main.ts' },
    external: [...ALWAYS_EXTERNAL, ...(own.external ?? [])],
  };
}

/**
 * Source maps for the workspace's own code only. Node's --enable-source-maps parses a bundle's whole map at load:
 * measured on deployment-api (5.7 MB of JavaScript, most of it @kubernetes/client-node), mapping every dependency
 * cost 120 MiB of RSS with sources embedded and 73 MiB without. Each file under node_modules gets an input map
 * whose only mapping lies past its last line (esbuild composes input maps and keeps only generated positions that
 * the input map covers; an empty map would count as none), so it contributes no mappings and its package's own
 * map is ignored: frames in our sources are mapped, frames in a dependency name the bundle's line, where esbuild's
 * `// node_modules/<package>/<file>` comments say which file it was.
 */
const ownSourceMapsOnly: Plugin = {
  name: 'own-source-maps-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/].*\.[cm]?js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8').replace(/^\/\/# sourceMappingURL=.*$/gm, '');
      const lines = text.split('\n').length;
      const map = { version: 3, sources: ['dependency'], names: [], mappings: `${';'.repeat(lines + 1)}AAAA` };
      const inline = Buffer.from(JSON.stringify(map)).toString('base64');
      return { contents: `${text}\n//# sourceMappingURL=data:application/json;base64,${inline}\n`, loader: 'js' };
    });
  },
};

export interface BundleResult {
  out: string;
  /** The external packages the bundle imports, copied into out/node_modules. */
  externals: string[];
  /** Every package directory copied under out/node_modules (relative to out). */
  copied: string[];
}

/** The package name of a bare import ('@scope/name/sub' -> '@scope/name'); undefined for builtins and paths. */
function packageOf(path: string): string | undefined {
  if (isBuiltin(path) || path.startsWith('.') || path.startsWith('/')) return undefined;
  const parts = path.split('/');
  return path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/**
 * The directories of `pkg` and its production dependencies (dependencies and installed optionalDependencies),
 * resolved as Node resolves them from `from`. Returns real paths under ROOT/node_modules.
 */
function productionClosure(pkg: string, from: string, seen = new Map<string, string>()): Map<string, string> {
  const req = createRequire(join(from, 'noop.js'));
  let manifestPath: string;
  try {
    manifestPath = req.resolve(`${pkg}/package.json`);
  } catch {
    // Packages whose exports hide package.json: walk node_modules upwards by hand.
    let dir = from;
    for (;;) {
      const candidate = join(dir, 'node_modules', pkg, 'package.json');
      if (existsSync(candidate)) {
        manifestPath = candidate;
        break;
      }
      if (dir === dirname(dir)) throw new Error(`bundle: cannot find the installed package ${pkg} from ${from}`);
      dir = dirname(dir);
    }
  }
  const dir = dirname(manifestPath);
  if (seen.has(dir)) return seen;
  seen.set(dir, pkg);
  const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    dependencies?: Record<string, string>;
    optionalDependencies?: Record<string, string>;
  };
  for (const dep of Object.keys(m.dependencies ?? {})) productionClosure(dep, dir, seen);
  for (const dep of Object.keys(m.optionalDependencies ?? {})) {
    try {
      productionClosure(dep, dir, seen);
    } catch {
      // An optional dependency not installed for this platform.
    }
  }
  return seen;
}

export async function bundle(
  workspace: string,
  options: { out?: string; format?: 'esm' | 'cjs'; version?: string } = {},
): Promise<BundleResult> {
  const manifest = readManifest(workspace);
  const settings = bundleSettings(workspace);
  const format = options.format ?? 'esm';
  const service = workspace.split('/').at(-1)!;
  const out = resolve(options.out ?? join(ROOT, 'dist', 'bundle', service));
  const version = options.version ?? manifest.version;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  if (manifest.scripts?.['generate']) {
    execFileSync('npm', ['run', 'generate', '--silent'], { cwd: join(ROOT, workspace), stdio: 'inherit' });
  }

  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: Object.fromEntries(
      Object.entries(settings.entries).map(([name, entry]) => [name, join(workspace, entry)]),
    ),
    outdir: out,
    // ESM: <name>.bundle.js, which the loader <name>.js imports; CommonJS (a binary's one script): <name>.js.
    entryNames: format === 'esm' ? '[name].bundle' : '[name]',
    bundle: true,
    platform: 'node',
    target: 'node24',
    format,
    // Linked maps beside the bundle for images; inline for a binary, which is one file.
    sourcemap: format === 'cjs' ? 'inline' : 'linked',
    sourcesContent: false,
    metafile: true,
    plugins: [ownSourceMapsOnly],
    logLevel: 'warning',
    legalComments: 'linked',
    // Keep names: stack traces and error classes (err.name, constructor.name in logs) read as in the sources.
    keepNames: true,
    external: format === 'esm' ? settings.external : [],
    define: {
      __SRE_PLATFORM_VERSION__: JSON.stringify(version),
      ...(format === 'cjs' ? { 'import.meta.url': '__sre_import_meta_url', 'import.meta.dirname': '__dirname' } : {}),
    },
    banner: {
      // ESM output: CommonJS dependencies that require() Node's builtins need a require; CJS output: the
      // import.meta.url the sources read, as the executable's (or script's) own file URL.
      js:
        format === 'esm'
          ? "import { createRequire as __sreCreateRequire } from 'node:module'; const require = __sreCreateRequire(import.meta.url);"
          : "var __sre_import_meta_url = require('node:url').pathToFileURL(__filename).href;",
    },
  });
  for (const file of Object.keys(result.metafile.outputs))
    if (file.endsWith('.js')) {
      const path = join(ROOT, file);
      writeFileSync(path, asciiOnly(readFileSync(path, 'utf8'), file));
    }
  // esbuild leaves an import external either because settings.external says so, or because it is a require()
  // in a try/catch of a package that is not installed (ws's optional bufferutil): only the former are copied.
  const imported = externalsOf(result.metafile);
  const externals = imported.filter((p) => settings.external.includes(p));
  const optionalMissing = imported.filter((p) => !settings.external.includes(p));
  const copied: string[] = [];
  for (const pkg of externals) {
    for (const [dir] of productionClosure(pkg, join(ROOT, workspace))) {
      const rel = relative(ROOT, realpathSync(dir));
      if (!rel.startsWith('node_modules/')) throw new Error(`bundle: external ${pkg} resolves outside node_modules`);
      if (copied.includes(rel)) continue;
      cpSync(dir, join(out, rel), {
        recursive: true,
        dereference: true,
        // No nested node_modules (the closure copies those it needs) and no package's own .bin links.
        filter: (src) => !relative(dir, src).split('/').includes('node_modules'),
      });
      copied.push(rel);
    }
  }
  // The Dockerfiles build the bundle on the builder's platform for every target architecture
  // (FROM --platform=$BUILDPLATFORM): right only while nothing in it is a native addon.
  const native = globSync('node_modules/**/*.node', { cwd: out });
  if (native.length > 0)
    throw new Error(
      `bundle: ${workspace} keeps native addons (${native.join(', ')}): build its image's bundle stage per target platform`,
    );
  if (format === 'esm') {
    for (const name of Object.keys(settings.entries)) writeFileSync(join(out, `${name}.js`), loader(name));
    // The loaders' compile cache, empty until a run fills it (an image's build gives it to the runtime user to fill).
    mkdirSync(join(out, '.compile-cache'));
  }
  writeFileSync(
    join(out, 'package.json'),
    `${JSON.stringify({ name: manifest.name, version, private: true, type: format === 'esm' ? 'module' : 'commonjs' }, null, 2)}\n`,
  );
  writeFileSync(
    join(out, 'bundle.json'),
    `${JSON.stringify(
      {
        workspace,
        version,
        format,
        entries: settings.entries,
        externals,
        optionalMissing,
        copied: copied.sort(),
        inputs: Object.keys(result.metafile.inputs).length,
      },
      null,
      2,
    )}\n`,
  );
  return { out, externals, copied };
}

/**
 * The bundle's text with every non-ASCII character of its comments replaced by '?'. esbuild escapes non-ASCII
 * characters in strings, templates, regular expressions and identifiers (charset ascii, its default) but keeps them
 * in the comments it preserves (undici's say `request’s`); one such character above U+00FF makes V8 hold the whole
 * source as a two-byte string: for webhook-app's 4 MB bundle, 4 MiB more resident memory in each thread that loads it
 * (measured with tools/build/bench/lean.bench.ts). One UTF-16 unit for one, so the source map's columns stay right.
 * Throws on a non-ASCII character outside a comment, which esbuild should not have left.
 */
export function asciiOnly(text: string, file = 'bundle'): string {
  return text.replace(/[\u0080-\uffff]/g, (char, offset: number) => {
    const line = text.slice(text.lastIndexOf('\n', offset) + 1, offset);
    if (!/\/\/|\/\*|^\s*\*/.test(line))
      throw new Error(`bundle: ${file} has a non-ASCII character outside a comment: ${line.slice(-80)}${char}`);
    return '?';
  });
}

/**
 * `<name>.js`, what images and `node <out>/<name>.js` start: a stack-trace formatter that names our sources, then
 * the bundle. Node's own support (setSourceMapsSupport, --enable-source-maps) reads and indexes a module's map when
 * the module is compiled: for a bundle that is a loop over each of its millions of characters (the line lengths Node
 * keeps for coverage), which V8 optimises at start-up, paging in its optimising compilers: 7 MiB more resident memory
 * for an idle payment-provider and 25 ms later ready than without maps (measured, tools/build/bench/lean.bench.ts).
 * This formatter reads the map with node:module's SourceMap the first time a stack trace names the bundle, and
 * formats frames as Node's does with source maps on (lib/internal/source_map/prepare_stack_trace.js, Node 24):
 * mapped frames `at name (source:line:column)`, every other frame as V8 writes it. A stack formatted before then
 * costs nothing; an error's stack is formatted when read (a log line, an uncaught exception).
 */
export function loader(name: string): string {
  return `// Starts ${name}.bundle.js with stack traces mapped to our sources through its map, read the first time a stack
// trace names the bundle (tools/build/bundle.ts, loader()).
import { readFileSync } from 'node:fs';
import { enableCompileCache, SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

const bundle = new URL('./${name}.bundle.js', import.meta.url).href;
let map;
function sourceMap() {
  if (map === undefined) {
    try {
      const payload = JSON.parse(readFileSync(fileURLToPath(\`\${bundle}.map\`), 'utf8'));
      // Absolute, as Node's own support makes them: relative to the map, which lies beside the bundle.
      payload.sources = payload.sources.map((source) => new URL((payload.sourceRoot ?? '') + source, bundle).href);
      map = new SourceMap(payload);
    } catch {
      map = null;
    }
  }
  return map;
}

// Node's errors read "TypeError [ERR_X]: ..." (their prototype answers to Node's internal kIsNodeError).
function isNodeError(error) {
  for (let o = error; o; o = Object.getPrototypeOf(o))
    if (Object.getOwnPropertySymbols(o).some((s) => s.description === 'kIsNodeError')) return true;
  return false;
}

function frame(site, caller) {
  if (site.getFileName() !== bundle) return \`\${site}\`;
  const sm = sourceMap();
  if (!sm) return \`\${site}\`;
  const { originalSource, originalLine, originalColumn } = sm.findEntry(site.getLineNumber() - 1, site.getColumnNumber() - 1);
  if (originalSource === undefined || originalLine === undefined || originalColumn === undefined) return \`\${site}\`;
  // The name esbuild's map keeps for the enclosing function, else the one at the caller's site in the bundle.
  let name = sm.findEntry(site.getEnclosingLineNumber() - 1, site.getEnclosingColumnNumber() - 1).name;
  if (!name && caller && caller.getFileName() === bundle)
    name = sm.findEntry(caller.getLineNumber() - 1, caller.getColumnNumber() - 1).name;
  const source = originalSource.startsWith('file://') ? fileURLToPath(originalSource) : originalSource;
  const prefix = site.isAsync() ? 'async ' : site.isConstructor() ? 'new ' : '';
  const typeName = site.getTypeName();
  const namePrefix = typeName !== null && typeName !== 'global' ? \`\${typeName}.\` : '';
  const fnName = site.getFunctionName() ?? site.getMethodName();
  return \`\${prefix}\${namePrefix}\${name || fnName || '<anonymous>'} (\${source}:\${originalLine + 1}:\${originalColumn + 1})\`;
}

Error.prepareStackTrace = (error, trace) => {
  const head = isNodeError(error)
    ? \`\${error.name} [\${error.code}]: \${error.message}\`
    : Error.prototype.toString.call(error);
  return head + trace.map((site, i) => {
    try {
      return \`\\n    at \${frame(site, trace[i + 1])}\`;
    } catch {
      return \`\\n    at \${site}\`;
    }
  }).join('');
};

// V8's code for the bundle, compiled once and read back by every later start (Node's compile cache, in
// .compile-cache beside the bundle, one folder per Node version, architecture and V8 flags). An image fills it at
// build time by running this loader with --version as its own user, and reads it on a read-only root filesystem;
// a start that cannot use or write it compiles as before. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
enableCompileCache(fileURLToPath(new URL('./.compile-cache', import.meta.url)));

await import('./${name}.bundle.js');
`;
}

/** The external packages the outputs import (builtins excluded). */
function externalsOf(metafile: Metafile): string[] {
  const found = new Set<string>();
  for (const output of Object.values(metafile.outputs))
    for (const imp of output.imports) {
      if (!imp.external) continue;
      const pkg = packageOf(imp.path);
      if (pkg) found.add(pkg);
    }
  return [...found].sort();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { out: { type: 'string' }, format: { type: 'string', default: 'esm' }, version: { type: 'string' } },
  });
  const workspace = positionals[0];
  if (!workspace || (values.format !== 'esm' && values.format !== 'cjs')) {
    process.stderr.write(
      'usage: node tools/build/bundle.ts <workspace dir> [--out DIR] [--format esm|cjs] [--version V]\n',
    );
    process.exit(2);
  }
  const r = await bundle(workspace.replace(/\/$/, ''), {
    ...(values.out ? { out: values.out } : {}),
    format: values.format,
    ...(values.version ? { version: values.version } : {}),
  });
  process.stdout.write(
    `bundle: ${workspace} -> ${relative(process.cwd(), r.out) || '.'} (external: ${r.externals.join(', ') || 'none'}; ${r.copied.length} packages in node_modules)\n`,
  );
}
