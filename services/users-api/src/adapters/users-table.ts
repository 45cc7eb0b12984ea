// The users table: partition key `email`, items exactly {name: {S}, email: {S}, avatar_url: {S}} as the seed
// shows them. Plain attribute values rather than the document client: the item's shape is the contract.
import {
  ConditionalCheckFailedException,
  DescribeTableCommand,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';

import type { User } from '../domain/user.ts';
import { classify } from './aws.ts';

export type PutOutcome = 'created' | 'exists';

function toUser(item: Record<string, AttributeValue> | undefined): User | undefined {
  const name = item?.['name']?.S;
  const email = item?.['email']?.S;
  const avatarUrl = item?.['avatar_url']?.S;
  if (name === undefined || email === undefined || avatarUrl === undefined) return undefined;
  return { avatar_url: avatarUrl, email, name };
}

export class UsersTable {
  readonly #client: DynamoDBClient;
  readonly #table: string;

  constructor(client: DynamoDBClient, table: string) {
    this.#client = client;
    this.#table = table;
  }

  /** Creates the user unless its email exists: one conditional write, so two racing requests cannot both win. */
  async create(user: User): Promise<PutOutcome> {
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#table,
          Item: { name: { S: user.name }, email: { S: user.email }, avatar_url: { S: user.avatar_url } },
          ConditionExpression: 'attribute_not_exists(email)',
        }),
      );
      return 'created';
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return 'exists';
      if ((err as { name?: string }).name === 'ConditionalCheckFailedException') return 'exists';
      return classify('dynamodb', err);
    }
  }

  async get(email: string): Promise<User | undefined> {
    try {
      const out = await this.#client.send(
        new GetItemCommand({ TableName: this.#table, Key: { email: { S: email } }, ConsistentRead: true }),
      );
      return toUser(out.Item);
    } catch (err) {
      return classify('dynamodb', err);
    }
  }

  /** One Scan call: up to `limit` users, and the key to continue after (undefined at the end of the table). */
  async scanPage(limit: number, after?: { email: string }): Promise<{ users: User[]; next?: { email: string } }> {
    try {
      const out = await this.#client.send(
        new ScanCommand({
          TableName: this.#table,
          Limit: limit,
          ...(after ? { ExclusiveStartKey: { email: { S: after.email } } } : {}),
        }),
      );
      const users = (out.Items ?? []).map(toUser).filter((u): u is User => u !== undefined);
      const nextEmail = out.LastEvaluatedKey?.['email']?.S;
      return nextEmail === undefined ? { users } : { users, next: { email: nextEmail } };
    } catch (err) {
      return classify('dynamodb', err);
    }
  }

  /** Readiness: the table exists and answers. */
  async describe(signal?: AbortSignal): Promise<void> {
    try {
      await this.#client.send(new DescribeTableCommand({ TableName: this.#table }), { abortSignal: signal });
    } catch (err) {
      classify('dynamodb', err);
    }
  }
}
