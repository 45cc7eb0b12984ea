// A user, as the seed defines it, and the rules for its fields and its avatar's keys.
import { isPlainText } from '@sre-platform/service-kit';
import { v7 as uuidv7 } from 'uuid';

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

/**
 * Where one upload lives: `avatars/<uuid>.<ext>`, a fresh UUID per upload, so two files named avatar.png never
 * share a key. New keys use UUID version 7, whose first 48 bits are the creation time in milliseconds: S3 lists
 * keys in lexicographic order, so avatars/ lists oldest first, and the orphan sweep (domain/sweep.ts) reads only
 * the keys written since its checkpoint instead of the whole bucket.
 */
export interface AvatarKey {
  id: string;
  key: string;
}

export const AVATARS_PREFIX = 'avatars/';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const AVATAR_KEY = new RegExp(`^avatars/(${UUID})\\.(png|jpg|gif|webp)$`);
const UUID_V7 = /^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function newAvatarKey(type: ImageType, id: string = uuidv7()): AvatarKey {
  return { id, key: `${AVATARS_PREFIX}${id}.${type.ext}` };
}

/** When an avatar key of ours was made (ms since the epoch, from its UUIDv7), or undefined for any other key. */
export function avatarKeyTime(key: string): number | undefined {
  const id = AVATAR_KEY.exec(key)?.[1];
  const m = id === undefined ? null : UUID_V7.exec(id);
  return m ? parseInt(m[1]! + m[2]!, 16) : undefined;
}

/**
 * The ListObjectsV2 StartAfter that lists avatars/ from keys made at `ms` on: the key prefix of that millisecond
 * (every key of that millisecond or later sorts after it; every earlier one before it).
 */
export function avatarKeysFrom(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${AVATARS_PREFIX}${hex.slice(0, 8)}-${hex.slice(8)}`;
}

/** The seed's avatar_url: the object's virtual-hosted-style URL (private: read it through GET /users/{email}/avatar). */
export function avatarUrl(bucket: string, region: string, key: string): string {
  return `https://${bucket}.s3.${region}.amazonaws.com/${key}`;
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
