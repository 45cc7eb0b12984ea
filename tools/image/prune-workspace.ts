// Runs in an image's dependency stage, after `npm ci --omit=dev --workspace <dir>`: removes every
// installed package that <dir>'s production dependency tree does not reach.
//
// Why: npm decides "dev" per package for the whole workspace tree, so a package that one workspace
// needs in production (deployment-api's @kubernetes/client-node) is installed into every service's
// image that reaches it through any edge, even a devDependency of a shared package. `npm ls
// --omit=dev` walks the edges from the workspace and knows the true production tree; this keeps
// exactly that (plus nothing under node_modules/.bin, which a runtime image never uses).
//
//   node tools/image/prune-workspace.ts services/invoice-app
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const workspace = process.argv[2];
if (!workspace) {
  process.stderr.write('usage: node tools/image/prune-workspace.ts <workspace dir, e.g. services/invoice-app>\n');
  process.exit(2);
}
const root = process.cwd();

function productionTree(): Set<string> {
  const args = ['ls', '--workspace', workspace!, '--omit=dev', '--all', '--parseable'];
  let out: string;
  try {
    out = execFileSync('npm', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    // npm ls exits 1 when it also finds problems elsewhere in the tree; its listing is still complete.
    out = (err as { stdout?: string }).stdout ?? '';
  }
  const paths = new Set(
    out
      .split('\n')
      .filter(Boolean)
      .map((p) => resolve(root, p)),
  );
  const { name } = JSON.parse(readFileSync(join(root, workspace!, 'package.json'), 'utf8')) as { name: string };
  if (!paths.has(join(root, 'node_modules', name))) {
    process.stderr.write(`prune-workspace: npm ls did not list ${name}; nothing removed\n`);
    process.exit(1);
  }
  return paths;
}

const keep = productionTree();
let removed = 0;

/** Walks one node_modules directory, removing packages outside the production tree. */
function prune(nodeModules: string): void {
  for (const name of readdirSync(nodeModules)) {
    const path = join(nodeModules, name);
    if (name === '.bin' || name === '.package-lock.json') {
      rmSync(path, { recursive: true, force: true });
    } else if (name.startsWith('@')) {
      for (const scoped of readdirSync(path)) visit(join(path, scoped));
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
    } else if (!name.startsWith('.')) {
      visit(path);
    }
  }
}

function visit(pkg: string): void {
  if (!keep.has(pkg)) {
    rmSync(pkg, { recursive: true, force: true });
    removed++;
    return;
  }
  const nested = join(pkg, 'node_modules');
  if (!lstatSync(pkg).isSymbolicLink() && existsSync(nested)) prune(nested);
}

prune(join(root, 'node_modules'));
process.stdout.write(
  `prune-workspace: kept ${keep.size - 1} packages of ${workspace}'s production tree, removed ${removed}\n`,
);
