// One way to build the CDK app, shared by the `cdk` CLI (bin/app.ts), the tests and deploy-local.ts: settings in,
// an App with the users-api stack and the cdk-nag AwsSolutions checks out. The stack is environment-agnostic
// (no account or region baked in), so it synthesizes offline with no AWS account and deploys to whichever account
// and region the credentials name: a real one with `cdk deploy --profile`, moto or LocalStack by endpoint.
import { App, DefaultStackSynthesizer, Validations } from 'aws-cdk-lib';
import nag from 'cdk-nag';

import { UsersApiStack } from './users-api-stack.ts';

export interface UsersApiSettings {
  stackName: string;
  /** DynamoDB table name; default the contract's `users`. */
  tableName: string;
  /** S3 bucket name; absent: CloudFormation generates one (bucket names are global on real AWS). */
  bucketName?: string;
  namespace: string;
  serviceAccount: string;
  oidcIssuer?: string;
  oidcProviderArn?: string;
  clusterName?: string;
  retainData: boolean;
  accessLogsBucketName?: string;
}

export const DEFAULT_SETTINGS: UsersApiSettings = {
  stackName: 'users-api',
  tableName: 'users',
  namespace: 'users-api',
  serviceAccount: 'users-api',
  retainData: true,
};

/** Settings from CDK context (`cdk.json` or `-c key=value`, where every value arrives as a string). */
export function settingsFromContext(get: (key: string) => unknown): UsersApiSettings {
  const str = (key: string): string | undefined => {
    const v = get(key);
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new Error(`context ${key} must be a string, got ${JSON.stringify(v)}`);
    return v;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = get(key);
    if (v === undefined) return fallback;
    if (v === true || v === 'true') return true;
    if (v === false || v === 'false') return false;
    throw new Error(`context ${key} must be true or false, got ${JSON.stringify(v)}`);
  };
  const optional = (key: string, name: keyof UsersApiSettings) => {
    const v = str(key);
    return v === undefined ? {} : { [name]: v };
  };
  return {
    stackName: str('stackName') ?? DEFAULT_SETTINGS.stackName,
    namespace: str('namespace') ?? DEFAULT_SETTINGS.namespace,
    serviceAccount: str('serviceAccount') ?? DEFAULT_SETTINGS.serviceAccount,
    retainData: bool('retainData', DEFAULT_SETTINGS.retainData),
    tableName: str('tableName') ?? DEFAULT_SETTINGS.tableName,
    ...optional('bucketName', 'bucketName'),
    ...optional('oidcIssuer', 'oidcIssuer'),
    ...optional('oidcProviderArn', 'oidcProviderArn'),
    ...optional('clusterName', 'clusterName'),
    ...optional('accessLogsBucket', 'accessLogsBucketName'),
  };
}

export function buildApp(settings: UsersApiSettings, app = new App()): { app: App; stack: UsersApiStack } {
  const { stackName, namespace, serviceAccount, ...rest } = settings;
  const stack = new UsersApiStack(app, 'UsersApi', {
    ...rest,
    stackName,
    description:
      'users-api: DynamoDB users table, S3 avatar bucket, least-privilege policy, IRSA and Pod Identity roles',
    serviceAccount: { namespace, name: serviceAccount },
    // No BootstrapVersion parameter and rule: the stack has no assets (a test pins it), so the rule would protect
    // nothing, and emulators cannot resolve its SSM parameter. `cdk deploy` still uses the bootstrap roles.
    synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
    // No AWS::CDK::Metadata resource: usage reporting is not the stack's business, and emulators do not know it.
    analyticsReporting: false,
  });
  // cdk-nag's AwsSolutions pack runs at every synth: an unacknowledged finding stops it (CLI and tests alike).
  Validations.of(app).addPlugins(new nag.AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack };
}

/** The stack's CloudFormation template, synthesized in-process (no CLI, no network, no account). */
export function synthTemplate(settings: UsersApiSettings): Record<string, unknown> {
  const { app, stack } = buildApp(settings);
  const assembly = app.synth();
  return assembly.getStackArtifact(stack.artifactId).template as Record<string, unknown>;
}
