// grpc.health.v1.Health: "" (the server) and the DeploymentService report SERVING while the API can
// answer correctly (apiserver reachable, caches synced, not draining), NOT_SERVING otherwise.
import { setTimeout as sleep } from 'node:timers/promises';

import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';

import type { Health } from '../gen/health/v1/health_pb.js';
import { HealthCheckResponse_ServingStatus as Status } from '../gen/health/v1/health_pb.js';
import { DeploymentService } from '../gen/sre_platform/deployments/v1/deployments_pb.js';

const KNOWN = new Set(['', DeploymentService.typeName]);

export function healthHandlers(serving: () => boolean, pollMs = 1000): ServiceImpl<typeof Health> {
  const status = () => (serving() ? Status.SERVING : Status.NOT_SERVING);
  return {
    check(req) {
      if (!KNOWN.has(req.service)) throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
      return { status: status() };
    },
    list() {
      const now = status();
      return { statuses: Object.fromEntries([...KNOWN].map((service) => [service, { status: now }])) };
    },
    async *watch(req, ctx) {
      if (!KNOWN.has(req.service)) {
        yield { status: Status.SERVICE_UNKNOWN };
        return;
      }
      let last: Status | undefined;
      while (!ctx.signal.aborted) {
        const now = status();
        if (now !== last) yield { status: now };
        last = now;
        await sleep(pollMs, undefined, { signal: ctx.signal }).catch(() => undefined);
      }
    },
  };
}
