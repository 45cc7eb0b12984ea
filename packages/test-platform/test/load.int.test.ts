import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { httpLoad } from '../src/load.ts';

interface Seen {
  method: string;
  key: string | undefined;
  type: string | undefined;
  body: string;
}

async function server(status: (n: number) => number) {
  const seen: Seen[] = [];
  const srv = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const key = req.headers['idempotency-key'];
      seen.push({
        method: req.method ?? '',
        key: typeof key === 'string' ? key : undefined,
        type: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(status(seen.length)).end();
    });
  });
  await new Promise<void>((done) => srv.listen(0, '127.0.0.1', done));
  return { seen, srv, url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook` };
}

let close: (() => void) | undefined;
afterEach(() => {
  close?.();
  close = undefined;
});

describe('httpLoad', () => {
  it('sends the method, headers and body, with a value of the unique header per request', async () => {
    const s = await server(() => 202);
    close = () => s.srv.close();
    const body = JSON.stringify({ ref: 'refs/heads/main', note: 'ünïcödé' });
    const r = await httpLoad({
      url: s.url,
      connections: 4,
      durationS: 1,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      uniqueHeader: 'Idempotency-Key',
      uniquePrefix: 'test',
    });
    expect(r.total).toBeGreaterThan(50);
    // httpload waits for the requests in flight when the run ends: every request the server saw is counted.
    expect(s.seen.length).toBe(r.total);
    expect(new Set(s.seen.map((x) => x.key)).size).toBe(s.seen.length);
    expect(s.seen.every((x) => x.method === 'POST' && x.body === body && x.type === 'application/json')).toBe(true);
    expect(s.seen.every((x) => x.key?.startsWith('test-'))).toBe(true);
    expect(r.non2xx3xx).toBe(0);
    expect(r.rps).toBeGreaterThan(0);
    expect(r.p99Ms).toBeGreaterThanOrEqual(r.p50Ms);
  });

  it('counts error answers', async () => {
    const s = await server((n) => (n % 2 === 0 ? 500 : 200));
    close = () => s.srv.close();
    const r = await httpLoad({ url: s.url, connections: 2, durationS: 1 });
    expect(s.seen.every((x) => x.method === 'GET' && x.key === undefined)).toBe(true);
    expect(r.non2xx3xx).toBeGreaterThan(r.total / 2 - 3);
    expect(r.non2xx3xx).toBeLessThan(r.total / 2 + 3);
  });
});
