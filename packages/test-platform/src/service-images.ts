// Our services' images, built by `make images` (tools/image/build: BuildKit, the release Dockerfiles, local base
// images) once per test run and imported into the real node's containerd, where pods use them with
// imagePullPolicy Never.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import type { ClusterInfo } from './cluster.ts';
import { REPO_ROOT } from './tools.ts';

export interface ServiceImage {
  /** The image reference pods name: sre-platform.local/<service>:<tag>. */
  ref: string;
  /** The OCI archive tools/image/build wrote. */
  archive: string;
  /** The image's runtime config (User, Entrypoint, Cmd, Env, WorkingDir, ExposedPorts). */
  config: { User?: string; Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; WorkingDir?: string };
}

const TAG = 'test';

/**
 * Builds `service`'s image from services/<service>/Dockerfile unless this run already did, and imports it into
 * the real node (which must be running: startRealNode). Files of one run share the build: the archive in the
 * run's directory marks it done. It is built in a directory of its own and renamed into place when complete, so a
 * file that asks while another builds the same image never reads half an archive: it builds too (the builder's
 * machine-wide lock orders the two, and BuildKit's cache makes the second one a matter of seconds).
 */
export async function serviceImage(cluster: ClusterInfo, service: string): Promise<ServiceImage> {
  const dir = join(cluster.workdir, 'images');
  const archive = join(dir, `${service}.tar`);
  if (!existsSync(archive)) {
    mkdirSync(dir, { recursive: true });
    const own = mkdtempSync(join(dir, `.${service}-`));
    await new Promise<void>((resolve, reject) => {
      execFile(
        join(REPO_ROOT, 'tools/image/build'),
        [service],
        {
          env: { ...process.env, IMAGE_TAG: TAG, IMAGES_DIR: own, IMPORT: '1', NODE_CLUSTER_ONLY: cluster.kubeconfig },
          timeout: 900_000,
          maxBuffer: 16 * 1024 * 1024,
        },
        (err, _stdout, stderr) =>
          err ? reject(new Error(`tools/image/build ${service} failed:\n${stderr.trim() || err.message}`)) : resolve(),
      );
    })
      // Only a finished build's archive moves into place (a rename: readers see all of it or nothing).
      .then(() => renameSync(join(own, `${service}.tar`), archive))
      .finally(() => rmSync(own, { recursive: true, force: true }));
  }
  return { ref: `sre-platform.local/${service}:${TAG}`, archive, config: imageConfig(archive) };
}

/** The runtime config of the one image in an OCI archive, read with tar (index -> manifest -> config). */
export function imageConfig(archive: string): ServiceImage['config'] {
  const blob = (path: string) => JSON.parse(readTar(archive, path)) as Record<string, unknown>;
  const index = blob('index.json') as { manifests: { digest: string }[] };
  const manifest = blob(`blobs/sha256/${index.manifests[0]!.digest.slice(7)}`) as { config: { digest: string } };
  const config = blob(`blobs/sha256/${manifest.config.digest.slice(7)}`) as { config: ServiceImage['config'] };
  return config.config;
}

function readTar(archive: string, path: string): string {
  return execFileSync('tar', ['-xOf', archive, path], { encoding: 'utf8' });
}

/**
 * The loaders (`main`, `deployctl`, ...) a Dockerfile's text runs with --version to fill the bundle's compile cache
 * (its compile-cache stage: `RUN ["/nodejs/bin/node", "<loader>.js", "--version"]`), in order.
 */
export function compileCacheLoaders(dockerfile: string): string[] {
  return [...dockerfile.matchAll(/^RUN \["\/nodejs\/bin\/node", "(\w[\w-]*)\.js", "--version"\]$/gm)].map((m) => m[1]!);
}
