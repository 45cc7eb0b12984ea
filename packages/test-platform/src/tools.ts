// Where the project's pinned tools are, or a failure that says how to install them. A missing
// tool never skips a test: it fails it, naming the tool and the command.
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const INSTALL = join(REPO_ROOT, 'tools/install');

export class MissingToolError extends Error {
  override name = 'MissingToolError';
}

/** The directory holding `tool`'s executables; throws MissingToolError with the install command. */
export function toolBin(tool: string): string {
  try {
    return execFileSync(INSTALL, ['--check', tool], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new MissingToolError(stderr || `${tool} is not installed: run 'tools/install ${tool}'`);
  }
}
