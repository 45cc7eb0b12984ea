// The checks every service image gets: the Dockerfile's shape (multi-stage, distroless Node 24, numeric non-root
// user, production-only install, every workspace manifest copied), then the image itself, built from that
// Dockerfile by BuildKit (make images, tools/image/build) and run as real containers on the real node: as its
// numeric non-root user under runAsNonRoot, on a read-only root filesystem, with only its production
// dependencies, answering /readyz.
import { readFileSync, globSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type * as k8s from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';

import { cluster, uniqueName, useNamespace } from './index.ts';
import { startRealNode } from './node.ts';
import { onRealNode, RESTRICTED, runPodToCompletion, runPodUntilReady } from './pods.ts';
import { serviceImage, type ServiceImage } from './service-images.ts';
import { REPO_ROOT } from './tools.ts';

/** Packages no service image may carry: test, build and tooling dependencies. */
const NEVER_IN_AN_IMAGE = ['vitest', 'typescript', 'eslint', 'prettier', 'autocannon', 'yaml', '@aws-sdk/client-s3'];

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

export function describeImage(spec: ImageSpec): void {
  // A service's own production dependency is not forbidden to it (users-api needs @aws-sdk/client-s3).
  const never = NEVER_IN_AN_IMAGE.filter((p) => !(spec.mustContain ?? []).includes(p));
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

  describe(`${spec.service} Dockerfile`, () => {
    it('is multi-stage and ends on distroless Node 24 as a numeric non-root user, listening on all interfaces', () => {
      expect(stages.length).toBeGreaterThanOrEqual(2);
      expect(stages.at(-1)![0]).toMatch(/^FROM gcr\.io\/distroless\/nodejs24/);
      // runAsNonRoot can only be verified by the kubelet for a numeric user other than 0.
      expect(instructions.filter((l) => l.startsWith('USER ')).at(-1)).toMatch(/^USER [1-9][0-9]*:[1-9][0-9]*$/);
      expect(dockerfile).toMatch(/npm ci --omit=dev/);
      expect(dockerfile).toContain(`node tools/image/prune-workspace.ts services/${spec.service}`);
      expect(dockerfile).toMatch(new RegExp(`ENV .*HOST=0\\.0\\.0\\.0.*PORT=${spec.port}\\b`));
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
        expect(image.config.Cmd).toEqual([`services/${spec.service}/src/main.ts`]);
      });

      it('holds only production dependencies, no shell, and cannot write its root filesystem', async () => {
        const probe = `const fs = require('node:fs');
          let rootWritable = true;
          try { fs.writeFileSync('/app/probe', 'x'); } catch (e) { rootWritable = e.code; }
          console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), rootWritable,
            shell: ['/bin/sh', '/bin/bash', '/usr/bin/sh'].filter((f) => fs.existsSync(f)),
            present: Object.fromEntries(${JSON.stringify([...never, ...(spec.mustNotContain ?? []), ...(spec.mustContain ?? [])])}
              .map((p) => [p, fs.existsSync('/app/node_modules/' + p)])) }));`;
        const run = await runPodToCompletion(ns.name, pod(uniqueName('contents'), { args: ['-e', probe] }));
        expect(run.phase, run.log).toBe('Succeeded');
        const seen = JSON.parse(run.log.trim().split('\n').at(-1)!) as {
          uid: number;
          gid: number;
          rootWritable: true | string;
          shell: string[];
          present: Record<string, boolean>;
        };
        expect(seen.uid).toBe(Number(image.config.User!.split(':')[0]));
        expect(seen.uid).not.toBe(0);
        expect(seen.rootWritable).toBe('EROFS');
        expect(seen.shell).toEqual([]);
        for (const pkg of [...never, ...(spec.mustNotContain ?? [])])
          expect(seen.present[pkg], `${pkg} must not be in the image`).toBe(false);
        for (const pkg of spec.mustContain ?? []) expect(seen.present[pkg], `${pkg} must be in the image`).toBe(true);
      });

      if (spec.env) {
        const env = spec.env;
        it('starts from its own command and answers /readyz, with no restart', async () => {
          const ready = await runPodUntilReady(
            ns.name,
            pod(
              uniqueName('service'),
              {
                env: Object.entries(env).map(([name, value]) => ({ name, value })),
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
          const run = await runPodToCompletion(ns.name, pod(uniqueName('command'), { args: command.args }));
          expect(run.phase, run.log).toBe('Succeeded');
          expect(run.log).toContain(command.logContains);
        });
      }
    });
  });
}
