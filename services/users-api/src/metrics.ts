// users-api's own metrics, on the kit's registry next to the HTTP RED metrics.
import { Counter, Gauge, type Registry } from '@sre-platform/service-kit';

export function createAppMetrics(registry: Registry) {
  return {
    created: new Counter({
      name: 'users_api_create_total',
      help: 'POST /user outcomes: created, duplicate, invalid, unsupported_type, too_large, too_slow, unavailable, failed.',
      labelNames: ['result'],
      registers: [registry],
    }),
    avatarBytes: new Counter({
      name: 'users_api_avatar_bytes_total',
      help: 'Bytes of avatars stored (created users only).',
      registers: [registry],
    }),
    compensations: new Counter({
      name: 'users_api_compensations_total',
      help: 'Staging objects deleted by the request that wrote them, because the user was not created.',
      labelNames: ['result'],
      registers: [registry],
    }),
    uploadsWaiting: new Gauge({
      name: 'users_api_uploads_waiting',
      help: 'Uploads waiting for one of the UPLOADS_IN_FLIGHT slots (their sockets are back-pressured).',
      registers: [registry],
    }),
    sweepRuns: new Counter({
      name: 'users_api_orphan_sweep_runs_total',
      help:
        'Orphan sweeps run, by result (ok: every object judged; partial: one failed, the checkpoint stopped there; ' +
        'failed: the checkpoint or the listing failed).',
      labelNames: ['result'],
      registers: [registry],
    }),
    sweepObjects: new Counter({
      name: 'users_api_orphan_sweep_objects_total',
      help: 'Avatar objects judged by the orphan sweep, by action (keep, delete, foreign, vanished, failed).',
      labelNames: ['action'],
      registers: [registry],
    }),
  };
}

export type AppMetrics = ReturnType<typeof createAppMetrics>;
