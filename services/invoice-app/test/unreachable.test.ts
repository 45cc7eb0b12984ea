// `unreachable` means nothing of the request left this host; a request that may have been received
// is an unknown outcome, replayed later with the same Idempotency-Key. Each case against a raw TCP
// peer that breaks the exchange at one exact point: before the request is written (nobody listening,
// or a listener whose accept queue is full so the connection is never made) or after (the peer has
// read the whole request, then resets or goes silent).
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

import { openDatabase, type Database } from '@sre-platform/database';
import { freePort } from '@sre-platform/service-kit/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { httpProvider, type ProviderOutcome } from '../src/adapters/provider.ts';
import { jsonDecimal } from '@sre-platform/currency';
import { Invoices } from '../src/adapters/invoices.ts';
import { Payer } from '../src/pay/payer.ts';

const order = { invoiceId: 'I1', value: jsonDecimal(1215n, 2), currency: 'EUR' };
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** What a raw peer does once it has read one whole request (headers and body), or on accept. */
type Peer = (socket: Socket, request: string | undefined) => void;

/** A TCP server that calls `peer` on accept (request undefined) and again once a whole request has arrived. */
async function rawPeer(peer: Peer, port = 0): Promise<{ server: Server; port: number; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    peer(socket, undefined);
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/content-length: *(\d+)/i.exec(buffer.slice(0, end))?.[1] ?? 0);
      if (buffer.length < end + 4 + length) return;
      const request = buffer.slice(0, end + 4 + length);
      buffer = buffer.slice(request.length);
      requests.push(request);
      peer(socket, request);
    });
  });
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  cleanups.push(() => new Promise((done) => server.close(done)));
  return { server, port: bound, requests };
}

async function payOnce(port: number, timeoutMs = 2000): Promise<ProviderOutcome> {
  const client = httpProvider({ payUrl: new URL(`http://127.0.0.1:${port}/payments/pay`), timeoutMs, maxSockets: 2 });
  try {
    return await client.pay(order, 'key-1');
  } finally {
    await client.close();
  }
}

/**
 * A listener (in another process, blocked so it never accepts) whose accept queue is full: the
 * kernel drops further SYNs, so a connection to it is never made.
 */
async function fullListener(): Promise<number> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('node:net').createServer();
       s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
         require('node:fs').writeSync(1, s.address().port + '\\n');
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  cleanups.push(() => child.kill('SIGKILL'));
  const port = await new Promise<number>((done, fail) => {
    child.stdout!.once('data', (d: Buffer) => done(Number(d.toString().trim())));
    child.once('exit', (code) => fail(new Error(`listener exited with ${code}`)));
  });
  // Linux queues backlog + 1 connections; the rest of these SYNs are dropped, and so will ours be.
  const fillers = Array.from({ length: 8 }, () =>
    createConnection({ port, host: '127.0.0.1' }).on('error', () => undefined),
  );
  cleanups.push(() => fillers.forEach((f) => f.destroy()));
  await Promise.all(fillers.slice(0, 2).map((f) => new Promise((done) => f.once('connect', done))));
  return port;
}

describe('before the request is written: unreachable, not sent', () => {
  it('nobody listening (the kernel answers the SYN with a reset)', async () => {
    const outcome = await payOnce(await freePort());
    expect(outcome).toMatchObject({ kind: 'unknown', reason: 'unreachable' });
    expect((outcome as { detail: string }).detail).toMatch(/^not sent: ECONNREFUSED/);
  });

  it('a listener that never completes the connection within the deadline', async () => {
    const port = await fullListener();
    const outcome = await payOnce(port, 1000);
    expect(outcome).toMatchObject({ kind: 'unknown', reason: 'unreachable' });
    // The call's deadline, or the pool's connect timeout (the same bound), whichever fires first.
    expect((outcome as { detail: string }).detail).toMatch(
      /^not sent: (no connection within 1000 ms|UND_ERR_CONNECT_TIMEOUT)/,
    );
  });
});

describe('after the request is written: the outcome is unknown, never unreachable', () => {
  it('the peer read the whole request, then reset the connection', async () => {
    const peer = await rawPeer((socket, request) => {
      if (request !== undefined) socket.resetAndDestroy();
    });
    const outcome = await payOnce(peer.port);
    expect(peer.requests).toHaveLength(1);
    expect(peer.requests[0]).toContain('{"id":"I1","value":12.15,"currency":"EUR"}');
    expect(outcome).toMatchObject({ kind: 'unknown', reason: 'network' });
    expect((outcome as { detail: string }).detail).toMatch(/ECONNRESET.*after the request was sent/);
  });

  it('the peer read the whole request, then closed without answering', async () => {
    const peer = await rawPeer((socket, request) => {
      if (request !== undefined) socket.end();
    });
    expect(await payOnce(peer.port)).toMatchObject({ kind: 'unknown', reason: 'network' });
    expect(peer.requests).toHaveLength(1);
  });

  it('the peer read the whole request and stayed silent past the deadline', async () => {
    const peer = await rawPeer(() => undefined);
    expect(await payOnce(peer.port, 300)).toEqual({
      kind: 'unknown',
      reason: 'timeout',
      detail: 'no answer within 300 ms',
    });
    expect(peer.requests).toHaveLength(1);
  });
});

describe('an invoice whose attempts differ', () => {
  let db: Database;
  let invoices: Invoices;
  // One invoice, I1, made unpaid again before each test.
  beforeAll(async () => {
    db = await openDatabase({});
    invoices = new Invoices(db);
    await invoices.migrate();
    await db.query("delete from invoices where id <> 'I1'");
  });
  afterAll(() => db.close());
  beforeEach(() =>
    db.query(
      `update invoices set status = 'unpaid', attempt_key = null, lease_until = null, paid_at = null, last_error = null`,
    ),
  );

  const payer = (port: number) => {
    const provider = httpProvider({
      payUrl: new URL(`http://127.0.0.1:${port}/payments/pay`),
      timeoutMs: 2000,
      maxSockets: 2,
    });
    cleanups.push(() => provider.close());
    return new Payer(invoices, provider, {
      stopAfterUnreachable: 5,
      concurrency: 1,
      batchSize: 1,
      leaseMs: 60_000,
      retries: 2,
      backoffMs: 1,
    });
  };
  const state = async () =>
    (
      await db.query<{ status: string; key: string | null; last_error: string }>(
        "select status, attempt_key::text as key, last_error from invoices where id = 'I1'",
      )
    )[0]!;

  it('the first attempt reached the provider, the retries found it gone: unknown, same key replayed next call', async () => {
    // The provider reads the request, resets, and is gone: the retries are refused.
    const peer = await rawPeer((socket, request) => {
      if (request === undefined) return;
      socket.resetAndDestroy();
      peer.server.close();
    });
    const first = await payer(peer.port).payAll();
    expect(peer.requests).toHaveLength(1);
    expect(first.failed).toMatchObject([{ invoice: { id: 'I1' }, reason: 'unknown', retryable: true }]);
    expect(first.failed[0]!.detail).toMatch(/an earlier attempt may have reached the provider \(network .*ECONNRESET/);
    expect(first.failed[0]!.detail).toMatch(/the last was not sent: ECONNREFUSED/);
    const after = await state();
    expect(after).toMatchObject({ status: 'paying' });
    expect(after.last_error).toMatch(/^unknown /);
    const key = /idempotency-key: ([\w-]+)/i.exec(peer.requests[0]!)![1];
    expect(after.key).toBe(key);

    // Back on the same port: the next call re-sends the same key and records the payment.
    const back = await rawPeer((socket, request) => {
      if (request !== undefined)
        socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"id":"I1"}');
    }, peer.port);
    const second = await payer(back.port).payAll();
    expect(second.paid.map((i) => i.id)).toEqual(['I1']);
    expect(/idempotency-key: ([\w-]+)/i.exec(back.requests[0]!)![1]).toBe(key);
  });

  it('no attempt connected: unreachable, not sent', async () => {
    const port = await freePort();
    const report = await payer(port).payAll();
    expect(report.failed).toMatchObject([{ reason: 'unreachable' }]);
    expect(report.failed[0]!.detail).toMatch(/^not sent: ECONNREFUSED/);
    expect((await state()).last_error).toMatch(/^unreachable not sent/);
  });
});
