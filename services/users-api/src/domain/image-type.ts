// The avatar's type, decided by its first bytes (magic numbers), never by its file name or declared type:
// both are the client's to choose, and an object's Content-Type is what a browser trusts when it renders it.

export interface ImageType {
  mime: 'image/png' | 'image/jpeg' | 'image/gif' | 'image/webp';
  ext: 'png' | 'jpg' | 'gif' | 'webp';
}

/** How many leading bytes `detectImageType` needs to decide (WebP's RIFF header is the longest). */
export const SNIFF_BYTES = 12;

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

function startsWith(bytes: Uint8Array, prefix: readonly number[], at = 0): boolean {
  if (bytes.length < at + prefix.length) return false;
  return prefix.every((b, i) => bytes[at + i] === b);
}

/** PNG, JPEG, GIF (87a/89a) or WebP from the first SNIFF_BYTES bytes; undefined for anything else. */
export function detectImageType(bytes: Uint8Array): ImageType | undefined {
  if (startsWith(bytes, PNG)) return { mime: 'image/png', ext: 'png' };
  // JPEG: SOI marker then the first segment's marker byte.
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return { mime: 'image/jpeg', ext: 'jpg' };
  if (startsWith(bytes, ascii('GIF87a')) || startsWith(bytes, ascii('GIF89a')))
    return { mime: 'image/gif', ext: 'gif' };
  // WebP: "RIFF", a 4-byte little-endian size, "WEBP".
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8))
    return { mime: 'image/webp', ext: 'webp' };
  return undefined;
}

const BY_EXT: Record<string, ImageType> = {
  png: { mime: 'image/png', ext: 'png' },
  jpg: { mime: 'image/jpeg', ext: 'jpg' },
  gif: { mime: 'image/gif', ext: 'gif' },
  webp: { mime: 'image/webp', ext: 'webp' },
};

/** The type an avatar key's extension stands for (keys are only ever written with these). */
export function imageTypeForExt(ext: string): ImageType | undefined {
  return Object.hasOwn(BY_EXT, ext) ? BY_EXT[ext] : undefined;
}
