// Wiring only: config -> AWS clients -> table and bucket adapters -> routes -> listen -> the orphan sweep.
import { createService, redactConfig, runMain } from '@sre-platform/service-kit';

import { AvatarStore } from './adapters/avatars.ts';
import { createClients, DependencyUnavailable } from './adapters/aws.ts';
import { UsersTable } from './adapters/users-table.ts';
import { addErrorMember, registerRoutes } from './app.ts';
import { ConfigSchema, readConfig } from './config.ts';
import { createAppMetrics } from './metrics.ts';
import { cachedCheck } from './readiness.ts';
import { startSweeper } from './sweep.ts';

const NAME = 'users-api';
const VERSION = process.env['APP_VERSION'] ?? '0.1.0';

runMain(NAME, VERSION, async () => {
  const config = readConfig();
  const clients = createClients(config);
  const users = new UsersTable(clients.dynamodb, config.USERS_TABLE);
  const avatars = new AvatarStore(clients.s3, config.AVATAR_BUCKET);

  const service = createService({
    name: NAME,
    version: VERSION,
    config,
    // DescribeTable and HeadBucket, a success remembered for a few seconds: probes every second from every
    // kubelet would otherwise be most of the calls this service makes.
    readiness: [
      { name: 'dynamodb', check: cachedCheck((signal) => users.describe(signal), 5000) },
      { name: 's3', check: cachedCheck((signal) => avatars.head(signal), 5000) },
    ],
    // DynamoDB or S3 down, unreachable or throttling: 503 with Retry-After, not a 500.
    unavailable: (err) => (err instanceof DependencyUnavailable ? err.dependency : undefined),
    // GET /users/{email}/avatar: an email may be 254 characters (URL-encoded, up to three times that).
    maxParamLength: 800,
  });
  service.logger.info({ config: redactConfig(ConfigSchema, config) }, 'configuration');
  const metrics = createAppMetrics(service.metrics.registry);
  addErrorMember(service.app);

  const fault = config.USERS_API_FAULT;
  await registerRoutes(service.app, {
    config,
    users,
    avatars,
    metrics,
    version: VERSION,
    ...(fault === 'none'
      ? {}
      : {
          // Test-only: die like a killed pod, with no shutdown and no cleanup, at the named point.
          fault: (point) => {
            if (`exit-${point}` === fault) {
              service.logger.warn({ fault }, 'USERS_API_FAULT: killing the process');
              process.kill(process.pid, 'SIGKILL');
            }
          },
        }),
  });

  const sweeper = startSweeper(
    {
      avatars,
      users,
      metrics,
      log: service.logger.child({ component: 'sweep' }),
      settings: {
        bucket: config.AVATAR_BUCKET,
        region: config.AWS_REGION,
        sweepAfterSeconds: config.ORPHAN_SWEEP_AFTER_SECONDS,
      },
    },
    config.ORPHAN_SWEEP_INTERVAL_SECONDS * 1000,
  );
  service.app.addHook('onClose', async () => {
    await sweeper.stop();
    clients.dynamodb.destroy();
    clients.s3.destroy();
  });
  await service.listen();
  return service;
});
