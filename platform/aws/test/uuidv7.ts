// The service's object keys are avatars/<UUID version 7>.<ext> (RFC 9562): 48 bits of Unix milliseconds first, so
// keys sort by creation time and the orphan sweep can list after a checkpoint. The tests mint keys of that shape.
let lastMs = 0;

/** A UUIDv7 for `ms` (default now); without `ms`, strictly increasing within this process, so listing order is known. */
export function uuidv7(ms?: number): string {
  const t = ms ?? (lastMs = Math.max(Date.now(), lastMs + 1));
  const b = crypto.getRandomValues(new Uint8Array(16));
  for (let i = 0; i < 6; i++) b[i] = Math.floor(t / 2 ** (8 * (5 - i))) & 0xff;
  b[6] = (b[6]! & 0x0f) | 0x70; // version 7
  b[8] = (b[8]! & 0x3f) | 0x80; // variant 10
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
