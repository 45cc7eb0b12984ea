// The pure parts: image types by magic bytes, the paging cursor, field rules and avatar keys.
import { describe, expect, it } from 'vitest';

import { decodeCursor, encodeCursor } from '../src/domain/cursor.ts';
import { detectImageType, imageTypeForExt, SNIFF_BYTES } from '../src/domain/image-type.ts';
import { avatarUrl, checkEmail, checkName, newAvatarKey, parseAvatarUrl } from '../src/domain/user.ts';

const bytes = (...parts: (number[] | string)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

describe('detectImageType', () => {
  it.each([
    ['PNG', bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'IHDR'), 'image/png', 'png'],
    ['JPEG (JFIF)', bytes([0xff, 0xd8, 0xff, 0xe0], 'JFIF'), 'image/jpeg', 'jpg'],
    ['JPEG (Exif)', bytes([0xff, 0xd8, 0xff, 0xe1]), 'image/jpeg', 'jpg'],
    ['GIF87a', bytes('GIF87a', [1, 0, 1, 0]), 'image/gif', 'gif'],
    ['GIF89a', bytes('GIF89a', [1, 0, 1, 0]), 'image/gif', 'gif'],
    ['WebP', bytes('RIFF', [0x24, 0, 0, 0], 'WEBPVP8 '), 'image/webp', 'webp'],
  ])('knows %s', (_name, head, mime, ext) => {
    expect(detectImageType(head)).toEqual({ mime, ext });
  });

  it.each([
    ['empty', bytes()],
    ['text that claims to be a PNG by name only', bytes('hello.png is not a png')],
    ['a PNG signature cut short', bytes([0x89, 0x50, 0x4e, 0x47])],
    ['a RIFF that is not WebP (WAV)', bytes('RIFF', [0, 0, 0, 0], 'WAVEfmt ')],
    ['GIF with an unknown version', bytes('GIF90a', [0, 0])],
    ['SVG (scriptable: refused)', bytes('<svg xmlns="http://www.w3.org/2000/svg">')],
    ['PDF', bytes('%PDF-1.7')],
    ['JPEG SOI without a marker', bytes([0xff, 0xd8, 0x00, 0x00])],
  ])('refuses %s', (_name, head) => {
    expect(detectImageType(head)).toBeUndefined();
  });

  it('needs no more than SNIFF_BYTES', () => {
    const webp = bytes('RIFF', [1, 2, 3, 4], 'WEBP');
    expect(webp.length).toBe(SNIFF_BYTES);
    expect(detectImageType(webp)?.ext).toBe('webp');
  });

  it('maps extensions back to types, and nothing else', () => {
    expect(imageTypeForExt('jpg')?.mime).toBe('image/jpeg');
    expect(imageTypeForExt('toString')).toBeUndefined();
    expect(imageTypeForExt('svg')).toBeUndefined();
  });
});

describe('paging cursor', () => {
  it('round-trips the last key', () => {
    const token = encodeCursor({ email: 'a.b+c@example.com' });
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(token)).toEqual({ email: 'a.b+c@example.com' });
  });

  it.each([
    ['empty', ''],
    ['not base64url', 'a b'],
    ['base64 of non-JSON', Buffer.from('nope').toString('base64url')],
    ['JSON of another shape', Buffer.from(JSON.stringify({ email: 'x@y.z' })).toString('base64url')],
    ['another version', Buffer.from(JSON.stringify({ v: 2, e: 'x@y.z' })).toString('base64url')],
    ['an empty key', Buffer.from(JSON.stringify({ v: 1, e: '' })).toString('base64url')],
    ['JSON null', Buffer.from('null').toString('base64url')],
    ['far too long', 'A'.repeat(600)],
  ])('refuses %s', (_name, token) => {
    expect(decodeCursor(token)).toBeUndefined();
  });
});

describe('fields', () => {
  it('trims names and refuses empty, long and control-character ones, naming the field', () => {
    expect(checkName('  Test User ')).toEqual({ ok: true, value: 'Test User' });
    expect(checkName(undefined)).toMatchObject({ ok: false, field: 'name' });
    expect(checkName('   ')).toMatchObject({ ok: false, field: 'name', message: 'name must not be empty' });
    expect(checkName('x'.repeat(201))).toMatchObject({ ok: false, field: 'name' });
    expect(checkName('a\u0000b')).toMatchObject({ ok: false, field: 'name' });
    expect(checkName('Zoë Ærø 山田')).toEqual({ ok: true, value: 'Zoë Ærø 山田' });
  });

  it('lower-cases emails (the identity) and refuses what is not an address', () => {
    expect(checkEmail(' Test-User@Prima.IT ')).toEqual({ ok: true, value: 'test-user@prima.it' });
    for (const bad of [
      undefined,
      '',
      'no-at.example.com',
      'a@b',
      'a b@c.de',
      'a@b@c.de',
      'zoë@example.com',
      `${'a'.repeat(65)}@b.cd`,
    ]) {
      expect(checkEmail(bad)).toMatchObject({ ok: false, field: 'email' });
    }
    expect(checkEmail(`${'a'.repeat(60)}@${'b'.repeat(190)}.com`)).toMatchObject({ ok: false, field: 'email' });
  });
});

describe('avatar keys and URLs', () => {
  const png = { mime: 'image/png', ext: 'png' } as const;

  it('gives every upload its own key, a UUIDv7 under avatars/', () => {
    const a = newAvatarKey(png);
    const b = newAvatarKey(png);
    expect(a.key).not.toBe(b.key);
    expect(a.key).toBe(`avatars/${a.id}.png`);
    expect(a.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("builds the seed's URL and parses only URLs of this bucket and region back", () => {
    const keys = newAvatarKey(png);
    const url = avatarUrl('bucket-1', 'eu-west-1', keys.key);
    expect(url).toBe(`https://bucket-1.s3.eu-west-1.amazonaws.com/avatars/${keys.id}.png`);
    expect(parseAvatarUrl(url, 'bucket-1', 'eu-west-1')).toEqual({ key: keys.key, id: keys.id, type: png });
    expect(parseAvatarUrl(url, 'bucket-2', 'eu-west-1')).toBeUndefined();
    expect(parseAvatarUrl(url, 'bucket-1', 'us-east-1')).toBeUndefined();
    expect(
      parseAvatarUrl('https://bucket-1.s3.eu-west-1.amazonaws.com/test-avatar.png', 'bucket-1', 'eu-west-1'),
    ).toBeUndefined();
    expect(
      parseAvatarUrl(`https://bucket-1.s3.eu-west-1.amazonaws.com/avatars/${keys.id}.svg`, 'bucket-1', 'eu-west-1'),
    ).toBeUndefined();
  });
});
