// The one home of the external contract data the tests, the contract peers and the benchmarks read:
// GitLab's own webhook bodies and CI schema, Rocket.Chat's published OpenAPI subsets. The files are
// vendored byte for byte (README.md names each one's source, version and licence; SHA256SUMS pins them),
// so a clone of this repository alone has everything its tests need.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding `gitlab/` and `rocketchat/`. */
export const CONTRACTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The absolute path of a contract file, e.g. `gitlab/push.json`. */
export function contractPath(relative: string): string {
  return join(CONTRACTS_DIR, relative);
}

/** A contract file's text, e.g. `readContract('gitlab/push.json')`. */
export function readContract(relative: string): string {
  return readFileSync(contractPath(relative), 'utf8');
}
