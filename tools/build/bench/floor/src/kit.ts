// The lean bench's kit floor: a service with no routes of its own, built on @sre-platform/service-kit as every
// service is (TypeBox-validated config, Fastify, pino, prom-client with the default metrics, the probes, graceful
// shutdown). What any service costs before its own code and clients.
import { BaseConfigSchema, createService, loadConfig, runMain } from '@sre-platform/service-kit';

runMain('lean-floor', '0.0.0', async () => {
  const service = createService({ name: 'lean-floor', version: '0.0.0', config: loadConfig(BaseConfigSchema) });
  await service.listen();
  return service;
});
