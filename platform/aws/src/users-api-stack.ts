// users-api's AWS resources as one CDK stack: the table, the avatar bucket, the least-privilege policy
// (exactly the actions the service performs, per services/users-api's contract), and the two ways an EKS pod
// gets that policy: an IRSA role (web identity, trusting the cluster's OIDC provider) and an EKS Pod Identity role.
//
// Deliberate shapes, each because of a target this stack must deploy to unchanged (real AWS, LocalStack, moto):
// - No asset, no Lambda-backed custom resource (no autoDeleteObjects, no CfnJson, no bucket notifications): a
//   template that CloudFormation alone can create, offline, on any emulator. test/users-api-stack.test.ts pins it.
// - The IRSA trust condition keys name the OIDC issuer (`<issuer>:sub`), so the issuer is a synth-time string
//   (context), never a CloudFormation parameter: a token in a JSON key would need CfnJson, a custom resource.
// - The policy is attached from the ManagedPolicy's side (its `Roles`), not from the role's ManagedPolicyArns: both
//   are plain CloudFormation, and moto's CloudFormation honours only the first.
// - SSE-S3 for the bucket and the AWS-managed key for the table: a customer-managed KMS key would need kms:* actions
//   in the role, which the contract's action list does not have (README: production differences).
import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as eks from 'aws-cdk-lib/aws-eks';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';

/**
 * The contract's object keys: an upload streams straight to avatars/<uuidv7>.<ext> (UUIDv7: keys sort by creation
 * time), and the orphan sweep keeps its progress in one object, sweep/checkpoint.json. Nothing else is written.
 */
export const AVATARS_PREFIX = 'avatars/';
export const SWEEP_CHECKPOINT_KEY = 'sweep/checkpoint.json';

/**
 * Exactly the IAM actions services/users-api performs (docs: the users-api contract), per resource:
 * - table: the conditional PutItem of POST /user, GetItem (the avatar redirect, and the sweep's "does a user
 *   reference this object?"), Scan (GET /users), DescribeTable (readiness).
 * - bucket: ListBucket, for the sweep's ListObjectsV2 over avatars/ and for readiness's HeadBucket (AWS authorizes
 *   HeadBucket as s3:ListBucket). Not narrowed by an `s3:prefix` condition: HeadBucket carries no prefix, so
 *   `StringLike` would refuse readiness and `StringLikeIfExists` would still allow an unprefixed listing of the
 *   whole bucket. It also makes a missing key answer 404 rather than 403 (HeadObject of an object already swept,
 *   the first sweep's GetObject of a checkpoint not yet written).
 * - avatars: the upload (PutObject covers single and multipart: create, upload part, complete), AbortMultipartUpload
 *   (uploads above 5 MiB are multipart; a failed one is aborted), GetObject (the sweep's HeadObject and presigned
 *   reads), DeleteObject (the request's compensation on a table conflict or failure, and the sweep's orphans).
 * - checkpoint: the sweep reads and rewrites its one object; never deletes it.
 * No CopyObject: the two-call design writes each avatar once, where it stays (no staging prefix, no promotion).
 */
export const CONTRACT_ACTIONS = {
  table: ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:Scan', 'dynamodb:DescribeTable'],
  bucket: ['s3:ListBucket'],
  avatars: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
  checkpoint: ['s3:GetObject', 's3:PutObject'],
} as const;

export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

export interface UsersApiStackProps extends StackProps {
  /** DynamoDB table name; absent: CloudFormation generates one (read it from the TableName output). */
  tableName?: string;
  /** S3 bucket name (globally unique on real AWS); absent: CloudFormation generates one. */
  bucketName?: string;
  /** The Kubernetes ServiceAccount the roles are for (the chart's: `users-api` in the release namespace). */
  serviceAccount: ServiceAccountRef;
  /**
   * The EKS cluster's OIDC issuer without `https://` (e.g. `oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE`).
   * Given: an IRSA role trusting that provider for exactly the ServiceAccount. Absent: no IRSA role.
   */
  oidcIssuer?: string;
  /** The IAM OIDC provider's ARN; default `arn:<partition>:iam::<this account>:oidc-provider/<oidcIssuer>`. */
  oidcProviderArn?: string;
  /** EKS cluster name: adds a Pod Identity association for the ServiceAccount, and scopes the trust to it. */
  clusterName?: string;
  /** Keep the table and bucket when the stack is deleted (true: production data outlives its stack). */
  retainData: boolean;
  /** An existing bucket that receives S3 server access logs; absent: no access logs (a justified cdk-nag S1). */
  accessLogsBucketName?: string;
}

export class UsersApiStack extends Stack {
  readonly table: dynamodb.Table;
  readonly bucket: s3.Bucket;
  readonly policy: iam.ManagedPolicy;
  readonly irsaRole: iam.Role | undefined;
  readonly podIdentityRole: iam.Role;

  constructor(scope: Construct, id: string, props: UsersApiStackProps) {
    super(scope, id, props);
    const removalPolicy = props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const sa = props.serviceAccount;

    this.table = new dynamodb.Table(this, 'UsersTable', {
      ...(props.tableName ? { tableName: props.tableName } : {}),
      partitionKey: { name: 'email', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: props.retainData,
      removalPolicy,
    });

    this.bucket = new s3.Bucket(this, 'AvatarBucket', {
      ...(props.bucketName ? { bucketName: props.bucketName } : {}),
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      ...(props.accessLogsBucketName
        ? {
            serverAccessLogsBucket: s3.Bucket.fromBucketName(this, 'AccessLogs', props.accessLogsBucketName),
            serverAccessLogsPrefix: 'users-api-avatars/',
          }
        : {}),
      lifecycleRules: [
        {
          // A multipart upload whose process died (or whose abort failed) leaves invisible, billed parts: gone
          // after a day. The orphan sweep cannot see them (they are not objects), so this rule is their only cleanup.
          id: 'abort-incomplete-multipart-uploads',
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        {
          // Versioning keeps overwritten or deleted avatars recoverable for a while, not forever: an orphan the
          // sweep (or a request's compensation) deletes becomes a noncurrent version, and its bytes go after 30 days.
          // The delete marker each delete leaves goes once that version has: S3 still steps over markers in a
          // listing (the sweep lists avatars/ every interval), so they would otherwise accumulate for ever.
          id: 'expire-noncurrent-avatars',
          prefix: AVATARS_PREFIX,
          noncurrentVersionExpiration: Duration.days(30),
          expiredObjectDeleteMarker: true,
        },
        {
          // The sweep rewrites its checkpoint every run (every ORPHAN_SWEEP_INTERVAL_SECONDS, per replica): in a
          // versioned bucket each write leaves the previous one behind, about 1,440 a day per replica. Nothing ever
          // needs an old checkpoint, so they go after a day (the shortest S3 allows).
          id: 'expire-noncurrent-sweep-checkpoint',
          prefix: SWEEP_CHECKPOINT_KEY,
          noncurrentVersionExpiration: Duration.days(1),
        },
      ],
      removalPolicy,
    });

    this.policy = new iam.ManagedPolicy(this, 'UsersApiAccess', {
      description: 'users-api: exactly the DynamoDB and S3 actions the service performs, on its table and bucket',
      statements: [
        new iam.PolicyStatement({
          sid: 'UsersTable',
          actions: [...CONTRACT_ACTIONS.table],
          resources: [this.table.tableArn],
        }),
        new iam.PolicyStatement({
          sid: 'AvatarBucketList',
          actions: [...CONTRACT_ACTIONS.bucket],
          resources: [this.bucket.bucketArn],
        }),
        new iam.PolicyStatement({
          sid: 'AvatarObjects',
          actions: [...CONTRACT_ACTIONS.avatars],
          resources: [this.bucket.arnForObjects(`${AVATARS_PREFIX}*`)],
        }),
        new iam.PolicyStatement({
          sid: 'SweepCheckpoint',
          actions: [...CONTRACT_ACTIONS.checkpoint],
          resources: [this.bucket.arnForObjects(SWEEP_CHECKPOINT_KEY)],
        }),
      ],
    });

    if (props.oidcIssuer) {
      const issuer = props.oidcIssuer.replace(/^https:\/\//, '');
      const providerArn =
        props.oidcProviderArn ?? `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:oidc-provider/${issuer}`;
      this.irsaRole = new iam.Role(this, 'IrsaRole', {
        description: `users-api via IRSA: only ServiceAccount ${sa.namespace}/${sa.name} of the cluster behind ${issuer}`,
        maxSessionDuration: Duration.hours(1),
        assumedBy: new iam.FederatedPrincipal(
          providerArn,
          {
            StringEquals: {
              [`${issuer}:sub`]: `system:serviceaccount:${sa.namespace}:${sa.name}`,
              [`${issuer}:aud`]: 'sts.amazonaws.com',
            },
          },
          'sts:AssumeRoleWithWebIdentity',
        ),
      });
      this.policy.attachToRole(this.irsaRole);
    }

    // EKS Pod Identity: the EKS Auth service assumes the role and passes session tags naming the pod's
    // namespace, service account and cluster; conditions on those tags (the EKS user guide's documented way) make
    // the role useless to any other association in the account.
    const podTags: Record<string, string> = {
      'aws:RequestTag/kubernetes-namespace': sa.namespace,
      'aws:RequestTag/kubernetes-service-account': sa.name,
      ...(props.clusterName ? { 'aws:RequestTag/eks-cluster-name': props.clusterName } : {}),
    };
    this.podIdentityRole = new iam.Role(this, 'PodIdentityRole', {
      description: `users-api via EKS Pod Identity: only ServiceAccount ${sa.namespace}/${sa.name}`,
      maxSessionDuration: Duration.hours(1),
      assumedBy: new iam.SessionTagsPrincipal(new iam.ServicePrincipal('pods.eks.amazonaws.com')).withConditions({
        StringEquals: podTags,
      }),
    });
    this.policy.attachToRole(this.podIdentityRole);

    if (props.clusterName) {
      new eks.CfnPodIdentityAssociation(this, 'PodIdentityAssociation', {
        clusterName: props.clusterName,
        namespace: sa.namespace,
        serviceAccount: sa.name,
        roleArn: this.podIdentityRole.roleArn,
      });
    }

    // Stable output names: deploy-local.ts and the README read these.
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'TableArn', { value: this.table.tableArn });
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName });
    new CfnOutput(this, 'BucketArn', { value: this.bucket.bucketArn });
    new CfnOutput(this, 'PolicyArn', { value: this.policy.managedPolicyArn });
    new CfnOutput(this, 'PodIdentityRoleArn', { value: this.podIdentityRole.roleArn });
    if (this.irsaRole) new CfnOutput(this, 'IrsaRoleArn', { value: this.irsaRole.roleArn });

    this.acknowledgeJustifiedFindings(props);
  }

  /**
   * Every cdk-nag AwsSolutions finding this stack keeps, acknowledged where it arises (CDK's Validations, which
   * cdk-nag 3 reads), each with its reason and narrowed to the one finding: test/nag.test.ts proves none is stale.
   */
  private acknowledgeJustifiedFindings(props: UsersApiStackProps): void {
    const bucketArn = `<${this.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>`;
    Validations.of(this.policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${bucketArn}/${AVATARS_PREFIX}*]`,
      reason:
        `Object keys are UUIDv7s minted at run time, so object actions are granted on the ${AVATARS_PREFIX}* ` +
        'prefix of this one bucket: no other bucket, no other prefix, no wildcard action (the sweep checkpoint is ' +
        'granted on its one exact key).',
    });
    if (!props.accessLogsBucketName) {
      Validations.of(this.bucket).acknowledge({
        id: 'AwsSolutions-S1',
        reason:
          'Server access logs belong in the account-wide log archive bucket, which this stack does not own: pass ' +
          'accessLogsBucketName (context accessLogsBucket) in a real account. CloudTrail data events are the ' +
          'audit trail for object access meanwhile.',
      });
    }
  }
}
