// `make bench`: runs every packages/*/bench/*.bench.ts, services/*/bench/*.bench.ts and tools/*/bench/*.bench.ts, one at a
// time (benchmarks share the machine's two cores, so never in parallel). BENCH=<substring>
// selects some; BENCH_DURATION_S shortens or lengthens each measurement.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const filter = process.env['BENCH'] ?? '';
const files: string[] = [];
for (const group of ['packages', 'services', 'tools']) {
  const base = join(ROOT, group);
  if (!existsSync(base)) continue;
  for (const pkg of readdirSync(base).sort()) {
    const dir = join(base, pkg, 'bench');
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) if (f.endsWith('.bench.ts')) files.push(join(dir, f));
  }
}
const selected = files.filter((f) => relative(ROOT, f).includes(filter));
if (selected.length === 0) {
  process.stderr.write(`make bench: no benchmark matches "${filter}"\n`);
  process.exit(1);
}
let failed = 0;
for (const file of selected) {
  process.stdout.write(`\n==> ${relative(ROOT, file)}\n`);
  const r = spawnSync(process.execPath, [file], { stdio: 'inherit', cwd: ROOT });
  if (r.status !== 0) failed += 1;
}
process.exit(failed === 0 ? 0 : 1);
