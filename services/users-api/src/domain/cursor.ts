// The paging cursor of GET /users?limit=: DynamoDB's LastEvaluatedKey (the table's key is the email alone),
// as an opaque base64url token. Opaque so that clients do not build one; checked so that a forged one is a
// 400, not a DynamoDB ValidationException.
import { EMAIL_MAX } from './user.ts';

const VERSION = 1;

export function encodeCursor(lastKey: { email: string }): string {
  return Buffer.from(JSON.stringify({ v: VERSION, e: lastKey.email }), 'utf8').toString('base64url');
}

/** The key to start after, or undefined when the token is not one of ours. */
export function decodeCursor(token: string): { email: string } | undefined {
  if (token.length === 0 || token.length > 2 * EMAIL_MAX || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { v, e } = parsed as { v?: unknown; e?: unknown };
  if (v !== VERSION || typeof e !== 'string' || e.length === 0 || e.length > EMAIL_MAX) return undefined;
  return { email: e };
}
