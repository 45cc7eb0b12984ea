// users-api configuration: environment variables, validated at start-up. The names and defaults are the
// contract with the chart and the IaC (docs in README.md). AWS credentials are not here: the SDK's default
// chain finds them (environment, IRSA web identity, EKS Pod Identity), and they are never logged.
import { baseConfigProperties, ConfigError, loadConfig, OneOf, Type, type Static } from '@sre-platform/service-kit';

/** S3's bucket naming rule (the common subset: lower case, digits, dots and hyphens). */
const BUCKET = '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$';
/** DynamoDB's table naming rule. */
const TABLE = '^[A-Za-z0-9_.-]{3,255}$';

export const FAULTS = ['none', 'exit-after-upload'] as const;

export const ConfigSchema = Type.Object({
  ...baseConfigProperties,
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8084 }),
  USERS_TABLE: Type.String({ pattern: TABLE, default: 'users' }),
  AVATAR_BUCKET: Type.String({ pattern: BUCKET, default: 'users-api-avatars' }),
  AWS_REGION: Type.String({ pattern: '^[a-z]{2}(-[a-z]+)+-[0-9]$', default: 'us-east-1' }),
  // For moto or LocalStack; the AWS SDK reads it too. When set, S3 is addressed path-style.
  AWS_ENDPOINT_URL: Type.Optional(Type.String({ format: 'uri' })),
  AVATAR_MAX_BYTES: Type.Integer({ minimum: 16, maximum: 100 * 1024 * 1024, default: 5 * 1024 * 1024 }),
  AVATAR_URL_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 604_800, default: 300 }),
  // An avatar no user references is deleted by the orphan sweep once its key is this old. POST /user writes the
  // table within the first half of it (or gives up); the table write's worst case must fit in the second half.
  ORPHAN_SWEEP_AFTER_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 300 }),
  ORPHAN_SWEEP_INTERVAL_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 60 }),
  // Uploads buffering a part for S3 at once (S3's smallest multipart part is 5 MiB, so lib-storage holds up
  // to one part per upload); more concurrent uploads wait, their sockets back-pressured. Bounds memory.
  UPLOADS_IN_FLIGHT: Type.Integer({ minimum: 1, maximum: 256, default: 6 }),
  // Each attempt of each AWS call; the SDK retries throttling and network errors within AWS_MAX_ATTEMPTS.
  AWS_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 5000 }),
  AWS_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 10, default: 3 }),
  // GET /users without ?limit streams the table in scans of this many items.
  SCAN_PAGE_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 200 }),
  // Test-only fault injection (README "Fault injection"): the process exits at that point of POST /user.
  USERS_API_FAULT: OneOf(FAULTS, { default: 'none' }),
});

export type Config = Static<typeof ConfigSchema>;

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const c = loadConfig(ConfigSchema, env);
  if (c.USERS_API_FAULT !== 'none' && env['NODE_ENV'] === 'production') {
    throw new ConfigError('USERS_API_FAULT is for tests only and is refused when NODE_ENV=production');
  }
  const tableWriteMs = c.AWS_TIMEOUT_MS * c.AWS_MAX_ATTEMPTS;
  if (tableWriteMs >= c.ORPHAN_SWEEP_AFTER_SECONDS * 500) {
    throw new ConfigError(
      `ORPHAN_SWEEP_AFTER_SECONDS (${c.ORPHAN_SWEEP_AFTER_SECONDS}) must be more than twice a table write's worst ` +
        `case, AWS_TIMEOUT_MS x AWS_MAX_ATTEMPTS (${tableWriteMs} ms): the sweep could delete the avatar of a user ` +
        'being created',
    );
  }
  return c;
}
