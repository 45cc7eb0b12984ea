// A user, as the seed defines it, and the rules for its fields and its avatar's keys.
import { randomUUID } from 'node:crypto';

import { isPlainText } from '@sre-platform/service-kit';

import { imageTypeForExt, type ImageType } from './image-type.ts';

/** The API's and the table's shape: exactly the seed's three strings. */
export interface User {
  name: string;
  email: string;
  avatar_url: string;
}

export const NAME_MAX = 200;
export const EMAIL_MAX = 254; // RFC 5321's path limit
/**
 * One @, printable ASCII only, a dot in the domain: what can be checked without sending a mail. ASCII because
 * the email also travels as S3 object metadata (an HTTP header), which only carries ASCII.
 */
export const EMAIL_PATTERN = '^[\\x21-\\x3F\\x41-\\x7E]{1,64}@[\\x21-\\x3F\\x41-\\x7E]+\\.[\\x21-\\x3F\\x41-\\x7E]+$';
const EMAIL = new RegExp(EMAIL_PATTERN);

export type FieldCheck = { ok: true; value: string } | { ok: false; field: string; message: string };

/** The name, trimmed: 1 to NAME_MAX characters of plain text. */
export function checkName(raw: string | undefined): FieldCheck {
  if (raw === undefined) return { ok: false, field: 'name', message: 'name is required' };
  const value = raw.trim();
  if (value.length === 0) return { ok: false, field: 'name', message: 'name must not be empty' };
  if (value.length > NAME_MAX)
    return { ok: false, field: 'name', message: `name must be at most ${NAME_MAX} characters` };
  if (!isPlainText(value)) return { ok: false, field: 'name', message: 'name must not contain control characters' };
  return { ok: true, value };
}

/**
 * The email, trimmed and lower-cased: it is the user's identity (the table's key), and two spellings of one
 * mailbox that differ only in case are one user.
 */
export function checkEmail(raw: string | undefined): FieldCheck {
  if (raw === undefined) return { ok: false, field: 'email', message: 'email is required' };
  const value = raw.trim().toLowerCase();
  if (value.length > EMAIL_MAX)
    return { ok: false, field: 'email', message: `email must be at most ${EMAIL_MAX} characters` };
  if (!EMAIL.test(value) || !isPlainText(value))
    return { ok: false, field: 'email', message: 'email must be an address like name@example.com (printable ASCII)' };
  return { ok: true, value };
}

/** Where one upload lives: a fresh UUID per upload, so two files named avatar.png never share a key. */
export interface AvatarKeys {
  id: string;
  staging: string;
  final: string;
}

export const STAGING_PREFIX = 'staging/';
export const AVATARS_PREFIX = 'avatars/';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const STAGING_KEY = new RegExp(`^staging/(${UUID})$`);
const AVATAR_KEY = new RegExp(`^avatars/(${UUID})\\.(png|jpg|gif|webp)$`);

export const stagingKey = (id: string) => `${STAGING_PREFIX}${id}`;

export function newAvatarKeys(type: ImageType, id: string = randomUUID()): AvatarKeys {
  return { id, staging: stagingKey(id), final: `${AVATARS_PREFIX}${id}.${type.ext}` };
}

/** The seed's avatar_url: the object's virtual-hosted-style URL (private: read it through GET /users/{email}/avatar). */
export function avatarUrl(bucket: string, region: string, key: string): string {
  return `https://${bucket}.s3.${region}.amazonaws.com/${key}`;
}

/** The staging key's upload id, or undefined for a key this service did not write. */
export function stagingId(key: string): string | undefined {
  return STAGING_KEY.exec(key)?.[1];
}

/** The object key, upload id and type an avatar_url of ours points at, or undefined. */
export function parseAvatarUrl(
  url: string,
  bucket: string,
  region: string,
): { key: string; id: string; type: ImageType } | undefined {
  const prefix = avatarUrl(bucket, region, '');
  if (!url.startsWith(prefix)) return undefined;
  const key = url.slice(prefix.length);
  const m = AVATAR_KEY.exec(key);
  if (!m) return undefined;
  const type = imageTypeForExt(m[2]!);
  return type ? { key, id: m[1]!, type } : undefined;
}
