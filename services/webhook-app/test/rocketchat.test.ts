// The Rocket.Chat client against the contract peer: each documented failure gets its treatment.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { startPeer, type Peer } from '@sre-platform/rocketchat-peer';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { messageIdFor, RocketChatClient } from '../src/adapters/rocketchat.ts';
import { backoffMs } from '../src/delivery.ts';

let peer: Peer;
beforeEach(async () => {
  peer = await startPeer();
  peer.addUser('ops');
  peer.addUser('webhook-bot', 'bot-password');
});
afterEach(async () => {
  expect(peer.violations).toEqual([]);
  await peer.close();
});

const tokenClient = (timeoutMs = 1000) => {
  const t = peer.tokenFor('webhook-bot');
  return new RocketChatClient(peer.url, { kind: 'token', userId: t.userId, authToken: t.authToken }, timeoutMs);
};

describe('RocketChatClient', () => {
  it('sends a DM with a personal access token, and reports a second send of the same event as a duplicate', async () => {
    const client = tokenClient();
    expect(await client.sendDirectMessage('ops', 'hello', 'key-1')).toEqual({ kind: 'delivered', duplicate: false });
    expect(await client.sendDirectMessage('ops', 'hello', 'key-1')).toEqual({ kind: 'delivered', duplicate: true });
    expect(peer.messages).toHaveLength(1);
    expect(peer.messages[0]).toMatchObject({ _id: messageIdFor('key-1'), to: 'ops', msg: 'hello' });
  });

  for (const how of ['reset', 'gateway-timeout', 'hang'] as const) {
    it(`confirms through chat.getMessage that a message whose reply was lost (${how}) was delivered, and sends it once`, async () => {
      const client = tokenClient(200);
      peer.behaviour.loseReplies = { count: 1, how, hangMs: 1500 };
      const lost = await client.sendDirectMessage('ops', 'hello', 'lost-1');
      expect(lost).toMatchObject({ kind: 'retry', countAttempt: true });
      // The retry re-sends the same _id: Rocket.Chat's 400 is checked against chat.getMessage.
      expect(await client.sendDirectMessage('ops', 'hello', 'lost-1')).toEqual({ kind: 'delivered', duplicate: true });
      expect(peer.calls.get('/api/v1/chat.getMessage')).toBe(1);
      expect(peer.messages).toHaveLength(1);
      expect(peer.messages[0]).toMatchObject({ _id: messageIdFor('lost-1'), to: 'ops' });
      await client.close();
    });
  }

  it('calls a 400 failed only when chat.getMessage says the message does not exist, and retries when it cannot tell', async () => {
    let getMessage = { status: 400, body: '{"success":false}' };
    const server = createServer((req, res) => {
      req.resume();
      res.setHeader('content-type', 'application/json');
      if (req.url?.endsWith('dm.create')) res.end(JSON.stringify({ room: { rid: 'r1' }, success: true }));
      else if (req.url?.includes('chat.getMessage')) res.writeHead(getMessage.status).end(getMessage.body);
      else res.writeHead(400).end(JSON.stringify({ success: false, error: 'error-invalid-room' }));
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const client = new RocketChatClient(
      `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      { kind: 'token', userId: 'u', authToken: 't' },
      1000,
    );
    try {
      expect(await client.sendDirectMessage('ops', 'x', 'k')).toMatchObject({ kind: 'fatal', reason: 'rejected' });
      getMessage = { status: 503, body: '{"success":false,"error":"down"}' };
      expect(await client.sendDirectMessage('ops', 'x', 'k')).toMatchObject({ kind: 'retry', reason: 'server_error' });
    } finally {
      await client.close();
      server.close();
    }
  });

  it('logs in with a password, and logs in again once when the session is revoked', async () => {
    const client = new RocketChatClient(
      peer.url,
      { kind: 'login', user: 'webhook-bot', password: 'bot-password' },
      1000,
    );
    expect((await client.sendDirectMessage('ops', 'one', 'k1')).kind).toBe('delivered');
    expect(peer.calls.get('/api/v1/login')).toBe(1);
    // While every call answers 401, the client logs in again once, then reports unauthorized.
    peer.behaviour.failWith = 401;
    const during = await client.sendDirectMessage('ops', 'two', 'k2');
    expect(during).toMatchObject({ kind: 'retry', reason: 'unauthorized', countAttempt: true });
    expect(peer.calls.get('/api/v1/login')).toBe(2); // it did try to log in again, once
    peer.behaviour.failWith = undefined;
    expect((await client.sendDirectMessage('ops', 'two', 'k2')).kind).toBe('delivered');
  });

  it('reports a wrong password or token as unauthorized (retried, and logged as an error by the worker)', async () => {
    const login = new RocketChatClient(peer.url, { kind: 'login', user: 'webhook-bot', password: 'wrong' }, 1000);
    expect(await login.sendDirectMessage('ops', 'x', 'k')).toMatchObject({ kind: 'retry', reason: 'unauthorized' });
    const token = new RocketChatClient(peer.url, { kind: 'token', userId: 'nope', authToken: 'nope' }, 1000);
    expect(await token.sendDirectMessage('ops', 'x', 'k')).toMatchObject({ kind: 'retry', reason: 'unauthorized' });
    expect(peer.messages).toHaveLength(0);
  });

  it('treats an unknown user and a missing permission as permanent', async () => {
    const client = tokenClient();
    expect(await client.sendDirectMessage('ghost', 'x', 'k')).toMatchObject({ kind: 'fatal', reason: 'unknown_user' });
    peer.behaviour.forbiddenFor = ['ops'];
    expect(await client.sendDirectMessage('ops', 'x', 'k2')).toMatchObject({ kind: 'fatal', reason: 'forbidden' });
  });

  it('retries server errors and timeouts, and waits for a rate limit reset without spending an attempt', async () => {
    const client = tokenClient(200);
    // Undici's timeouts have about 1 s resolution: a 200 ms timeout fires within 1 s.
    for (const [fault, reason] of [
      [{ failWith: 502 }, 'server_error'],
      [{ delayMs: 1500 }, 'timeout'],
    ] as const) {
      Object.assign(peer.behaviour, fault);
      expect(await client.sendDirectMessage('ops', 'x', 'k'), reason).toMatchObject({
        kind: 'retry',
        reason,
        countAttempt: true,
      });
      Object.assign(peer.behaviour, { failWith: undefined, delayMs: undefined });
    }
    peer.behaviour.rateLimit = { limit: 1, windowMs: 5000 };
    await client.sendDirectMessage('ops', 'first', 'k3');
    const limited = await client.sendDirectMessage('ops', 'second', 'k4');
    expect(limited).toMatchObject({ kind: 'retry', reason: 'rate_limited', countAttempt: false });
    expect(limited.kind === 'retry' ? limited.afterMs : 0).toBeGreaterThan(3000);
    expect(limited.kind === 'retry' ? limited.afterMs : Infinity).toBeLessThanOrEqual(5000);
  });

  it('calls Rocket.Chat under the path of its URL, with or without a trailing slash', async () => {
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(req.url ?? '');
      req.resume();
      res.setHeader('content-type', 'application/json');
      res.end(
        req.url?.endsWith('dm.create')
          ? JSON.stringify({ room: { rid: 'r1' }, success: true })
          : JSON.stringify({ message: { _id: 'm' }, success: true }),
      );
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const auth = { kind: 'token', userId: 'u', authToken: 't' } as const;
      for (const url of [`${base}/chat`, `${base}/chat/`, base]) {
        const client = new RocketChatClient(url, auth, 1000);
        expect(await client.sendDirectMessage('ops', 'x', url)).toEqual({ kind: 'delivered', duplicate: false });
        await client.close();
      }
      expect(paths).toEqual([
        '/chat/api/v1/dm.create',
        '/chat/api/v1/chat.sendMessage',
        '/chat/api/v1/dm.create',
        '/chat/api/v1/chat.sendMessage',
        '/api/v1/dm.create',
        '/api/v1/chat.sendMessage',
      ]);
    } finally {
      server.close();
    }
  });

  it('derives stable 17-character Rocket.Chat message ids', () => {
    expect(messageIdFor('a')).toBe(messageIdFor('a'));
    expect(messageIdFor('a')).not.toBe(messageIdFor('b'));
    expect(messageIdFor('a')).toMatch(/^[23456789A-HJ-NP-Za-km-z]{17}$/);
  });
});

describe('backoffMs', () => {
  it('grows exponentially up to the cap, with full jitter', () => {
    expect(backoffMs(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(backoffMs(4, 1000, 60_000, () => 1)).toBe(8000);
    expect(backoffMs(20, 1000, 60_000, () => 1)).toBe(60_000);
    expect(backoffMs(4, 1000, 60_000, () => 0.5)).toBe(4000);
    expect(backoffMs(4, 1000, 60_000, () => 0)).toBe(0);
  });
});
