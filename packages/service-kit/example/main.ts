// The smallest complete kit-based service, in the spirit of podinfo: copy it to start a new one.
// `make up` runs it; the kit's tests start it as a real process to prove shutdown and config.
import { setTimeout as sleep } from 'node:timers/promises';

import {
  baseConfigProperties,
  createService,
  HttpProblem,
  loadConfig,
  runMain,
  Secret,
  Type,
  type ServicePlugin,
} from '../src/index.ts';

const ConfigSchema = Type.Object({
  ...baseConfigProperties,
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8090 }),
  GREETING: Type.String({ default: 'hello from the sre-platform service kit', maxLength: 200 }),
  // Optional: only here so that tests can prove a secret never reaches the logs.
  EXAMPLE_API_TOKEN: Type.Optional(Secret(Type.String({ minLength: 8 }))),
});

runMain('kit-example', '0.1.0', async () => {
  const config = loadConfig(ConfigSchema);
  const service = createService({ name: 'kit-example', version: '0.1.0', config });

  // The routes as one encapsulated plugin: a parser or hook declared in here applies to these routes only.
  const routes: ServicePlugin = (app, _options, done) => {
    app.get('/', () => ({ message: config.GREETING }));

    app.get(
      '/delay/:ms',
      { schema: { params: Type.Object({ ms: Type.Integer({ minimum: 0, maximum: 30_000 }) }) } },
      async (request) => {
        await sleep(request.params.ms);
        return { delayedMs: request.params.ms };
      },
    );

    app.post(
      '/echo',
      { schema: { body: Type.Object({ message: Type.String({ maxLength: 1000 }) }, { additionalProperties: false }) } },
      (request) => ({ message: request.body.message }),
    );

    app.get(
      '/status/:code',
      { schema: { params: Type.Object({ code: Type.Integer({ minimum: 200, maximum: 599 }) }) } },
      (request, reply) => {
        const { code } = request.params;
        if (code >= 400) throw new HttpProblem(code, `status ${code} was asked for`);
        return reply.code(code).send({ status: code });
      },
    );
    done();
  };
  await service.app.register(routes);

  await service.listen();
  return service;
});
