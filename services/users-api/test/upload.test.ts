// The streaming helpers: the head read without losing bytes, the size limit while streaming, the slots.
import { PassThrough, Readable } from 'node:stream';
import { text } from 'node:stream/consumers';

import { describe, expect, it } from 'vitest';

import { limitedBody, readHead, UploadSlots } from '../src/upload.ts';

const chunks = (...parts: string[]) =>
  Readable.from(
    parts.map((p) => Buffer.from(p)),
    { objectMode: false },
  );

describe('readHead + limitedBody', () => {
  it('passes every byte through, head first', async () => {
    const source = chunks('ab', 'cdef', 'ghijklmnop', 'qrstuvwxyz');
    const { head, ended } = await readHead(source, 5);
    expect(head.toString()).toBe('abcdef');
    expect(ended).toBe(false);
    const pipe = limitedBody(source, head, ended, 100, () => new Error('too large'));
    expect(await text(pipe.body)).toBe('abcdefghijklmnopqrstuvwxyz');
    expect(pipe.bytes()).toBe(26);
  });

  it('handles a source shorter than the head', async () => {
    const source = chunks('abc');
    const { head, ended } = await readHead(source, 12);
    expect([head.toString(), ended]).toEqual(['abc', true]);
    expect(await text(limitedBody(source, head, ended, 100, () => new Error('x')).body)).toBe('abc');
  });

  it('fails the body once more than the limit has passed, and drains the rest of the source', async () => {
    const source = new PassThrough();
    source.write('0123456789');
    const { head, ended } = await readHead(source, 4);
    const pipe = limitedBody(source, head, ended, 15, () => new Error('too large'));
    const read = text(pipe.body);
    source.write('0123456789');
    source.end('more bytes nobody reads');
    await expect(read).rejects.toThrow('too large');
    // Drained: the source reaches its end although nobody reads the body any more.
    if (!source.readableEnded) await new Promise((resolve) => source.once('end', resolve));
    expect(source.readableEnded).toBe(true);
  });

  it("does not miss an 'end' emitted between the head and the body (a small file in one chunk)", async () => {
    const source = new PassThrough();
    source.end(Buffer.from('0123456789abcdef'));
    const { head } = await readHead(source, 4);
    await new Promise((resolve) => setImmediate(resolve));
    expect(source.readableEnded).toBe(true);
    expect(await text(limitedBody(source, head, false, 100, () => new Error('x')).body)).toBe('0123456789abcdef');
  });

  it('accepts exactly the limit', async () => {
    const source = chunks('12345', '67890');
    const { head, ended } = await readHead(source, 2);
    expect(await text(limitedBody(source, head, ended, 10, () => new Error('too large')).body)).toBe('1234567890');
  });
});

describe('UploadSlots', () => {
  it('lets `size` holders in and queues the rest in order', async () => {
    const waiting: number[] = [];
    const slots = new UploadSlots(2, (n) => waiting.push(n));
    const a = await slots.acquire();
    const b = await slots.acquire();
    const order: string[] = [];
    const c = slots.acquire().then((release) => {
      order.push('c');
      return release;
    });
    const d = slots.acquire().then((release) => {
      order.push('d');
      return release;
    });
    await Promise.resolve();
    expect(order).toEqual([]);
    a();
    a(); // a second release of the same slot does nothing
    (await c)();
    b();
    (await d)();
    expect(order).toEqual(['c', 'd']);
    expect(waiting.at(-1)).toBe(0);
  });
});
