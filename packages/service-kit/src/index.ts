export { Type, type Static, type TSchema } from 'typebox';
export { Value } from 'typebox/value';

export {
  BaseConfigSchema,
  baseConfigProperties,
  ConfigError,
  expected,
  isSecret,
  loadConfig,
  OneOf,
  redactConfig,
  Secret,
  type BaseConfig,
} from './config.ts';
export { CENSOR, createLogger, defaultSecretKeys, scrub, type Logger, type LoggerSettings } from './logger.ts';
export { createMetrics, Counter, Gauge, Histogram, Registry, UNMATCHED_ROUTE, type HttpMetrics } from './metrics.ts';
export { HttpProblem, problem, PROBLEM_CONTENT_TYPE, titleFor, type ProblemDetails } from './problem.ts';
export { runMain, type Stoppable } from './main.ts';
export { isPlainText, PLAIN_TEXT_MESSAGE, PLAIN_TEXT_PATTERN, PlainText, toPlainText } from './text.ts';
export { toProblem } from './plugins.ts';
/** fastify-plugin: for a plugin whose hooks must reach every route (not encapsulated); routes stay encapsulated. */
export { default as sharedPlugin } from 'fastify-plugin';
export {
  createService,
  type ReadinessCheck,
  type Service,
  type ServiceApp,
  type ServiceOptions,
  type ServicePlugin,
  type ServicePluginAsync,
} from './service.ts';
