// The AWS SDK clients and the one place that tells an outage from a bug. Credentials come from the SDK's
// default chain (environment, IRSA web identity, EKS Pod Identity); nothing here reads or logs them.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';

import type { Config } from '../config.ts';

export type Dependency = 'dynamodb' | 's3';

/**
 * A call failed because the dependency is down, unreachable, throttling us or not set up (its table or
 * bucket missing): the request was fine and may succeed later. Answered 503 with Retry-After.
 */
export class DependencyUnavailable extends Error {
  override name = 'DependencyUnavailable';
  readonly dependency: Dependency;
  readonly reason: string;
  constructor(dependency: Dependency, reason: string, options?: { cause?: unknown }) {
    super(`${dependency} is unavailable: ${reason}`, options);
    this.dependency = dependency;
    this.reason = reason;
  }
}

const THROTTLED = new Set([
  'ThrottlingException',
  'Throttling',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'SlowDown',
  'TooManyRequestsException',
]);
/** Not a fault of the request: the resource the deployment names is not there (readiness reports it too). */
const MISSING_RESOURCE = new Set(['ResourceNotFoundException', 'NoSuchBucket']);
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);

/** Why `error` means the dependency is unavailable, or undefined when it is something else (a bug, a 4xx). */
export function unavailableReason(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { name?: unknown; code?: unknown; $metadata?: { httpStatusCode?: number } };
  const name = typeof e.name === 'string' ? e.name : '';
  const code = typeof e.code === 'string' ? e.code : '';
  if (THROTTLED.has(name)) return `throttled (${name})`;
  if (MISSING_RESOURCE.has(name)) return `not set up (${name})`;
  if (NETWORK.has(code) || NETWORK.has(name)) return `unreachable (${code || name})`;
  if (name === 'TimeoutError' || name === 'RequestTimeout' || name === 'RequestTimeoutException') return 'timed out';
  const status = e.$metadata?.httpStatusCode;
  if (status === 429) return 'throttled (429)';
  if (status !== undefined && status >= 500) return `answered ${status} (${name || 'server error'})`;
  return undefined;
}

/** Rethrows an unavailable-dependency error as DependencyUnavailable; anything else as it is. */
export function classify(dependency: Dependency, error: unknown): never {
  if (error instanceof DependencyUnavailable) throw error;
  const reason = unavailableReason(error);
  if (reason !== undefined) throw new DependencyUnavailable(dependency, reason, { cause: error });
  throw error;
}

export function createClients(config: Config): { dynamodb: DynamoDBClient; s3: S3Client } {
  const common = {
    region: config.AWS_REGION,
    maxAttempts: config.AWS_MAX_ATTEMPTS,
    requestHandler: { connectionTimeout: config.AWS_TIMEOUT_MS, requestTimeout: config.AWS_TIMEOUT_MS },
    ...(config.AWS_ENDPOINT_URL ? { endpoint: config.AWS_ENDPOINT_URL } : {}),
  };
  return {
    dynamodb: new DynamoDBClient(common),
    // An emulator on one host name has no per-bucket DNS names: path-style there, virtual-hosted on AWS.
    s3: new S3Client({ ...common, forcePathStyle: config.AWS_ENDPOINT_URL !== undefined }),
  };
}
