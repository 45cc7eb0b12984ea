// Streaming helpers for POST /user: the avatar flows from the request to S3 through a bounded pipe, its type
// decided from its first bytes, its size counted as it passes. Nothing here holds more than a chunk; the S3
// side (lib-storage) holds at most one 5 MiB part per upload, and UploadSlots bounds how many uploads do.
import { PassThrough, type Readable } from 'node:stream';

/** Reads at least `n` bytes (or the whole stream, if shorter) and leaves the stream paused after them. */
export function readHead(stream: Readable, n: number): Promise<{ head: Buffer; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const settle = (ended: boolean) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.pause();
      resolve({ head: Buffer.concat(chunks), ended });
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= n) settle(false);
    };
    const onEnd = () => settle(true);
    const onError = (err: Error) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      reject(err);
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}

/**
 * A stream of `head` then the rest of `source`, that fails with `tooLarge()` as soon as more than `maxBytes`
 * have passed (the upload reading it aborts then). `source` is never destroyed: once the pipe fails or its
 * reader stops, the rest of `source` is drained (discarded), so that the multipart parser reaches the end of
 * the request and the client gets its answer on an intact connection.
 */
export function limitedBody(
  source: Readable,
  head: Buffer,
  sourceEnded: boolean,
  maxBytes: number,
  tooLarge: () => Error,
): { body: PassThrough; bytes: () => number; drain: () => void } {
  const body = new PassThrough({ highWaterMark: 64 * 1024 });
  let bytes = 0;
  let draining = false;
  const drain = () => {
    if (draining) return;
    draining = true;
    source.off('data', onData);
    source.on('data', () => undefined);
    source.resume();
  };
  const push = (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > maxBytes) {
      body.destroy(tooLarge());
      drain();
      return;
    }
    if (!body.write(chunk)) source.pause();
  };
  const onData = (chunk: Buffer) => {
    if (body.destroyed) drain();
    else push(chunk);
  };
  body.on('drain', () => {
    if (!draining) source.resume();
  });
  body.on('close', () => {
    // The reader went away (upload failed or finished early): discard whatever is left.
    if (!source.readableEnded) drain();
  });
  push(head);
  // 'end' may have been emitted between readHead and here (a small file arrives with its end in one chunk).
  if (sourceEnded || source.readableEnded) {
    if (!body.destroyed) body.end();
  } else if (!body.destroyed) {
    source.on('data', onData);
    source.once('end', () => {
      if (!body.destroyed) body.end();
    });
    source.once('error', (err) => body.destroy(err));
    source.resume();
  }
  return { body, bytes: () => bytes, drain };
}

/** A counting semaphore: at most `size` uploads hold an S3 part buffer at once. */
export class UploadSlots {
  readonly #size: number;
  #used = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #onWaiting: (n: number) => void;

  constructor(size: number, onWaiting: (n: number) => void = () => undefined) {
    this.#size = size;
    this.#onWaiting = onWaiting;
  }

  async acquire(): Promise<() => void> {
    if (this.#used < this.#size) {
      this.#used++;
    } else {
      await new Promise<void>((resolve) => {
        this.#waiting.push(resolve);
        this.#onWaiting(this.#waiting.length);
      });
      this.#onWaiting(this.#waiting.length);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next)
        next(); // the slot passes straight to the next upload
      else this.#used--;
    };
  }
}
