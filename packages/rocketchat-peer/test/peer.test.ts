import { afterEach, describe, expect, it } from 'vitest';

import { startPeer, type Peer } from '../src/peer.ts';

const peers: Peer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

async function sendMalformed(peer: Peer) {
  const bot = peer.tokenFor('webhook-bot');
  // chat.sendMessage requires a `message` object: a string breaks the published request schema.
  return fetch(`${peer.url}/api/v1/chat.sendMessage`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-user-id': bot.userId, 'x-auth-token': bot.authToken },
    body: JSON.stringify({ message: 'not an object' }),
  });
}

describe('rocketchat-peer contract checks', () => {
  it('records a request that breaks the published schema', async () => {
    const peer = await startPeer();
    peers.push(peer);
    await sendMalformed(peer);
    expect(peer.violations.join('\n')).toContain('POST /api/v1/chat.sendMessage request');
  });

  it('records nothing when the checks are turned off (benchmarks)', async () => {
    const peer = await startPeer({ checkContracts: false });
    peers.push(peer);
    await sendMalformed(peer);
    expect(peer.violations).toEqual([]);
  });
});

describe('rocketchat-peer user management (the bootstrap)', () => {
  it('lets an admin create and update users within the published contract, and refuses a non-admin', async () => {
    const peer = await startPeer();
    peers.push(peer);
    peer.addUser('admin', 'admin-password', ['admin']);
    const admin = peer.tokenFor('admin');
    const call = async (method: string, path: string, body?: unknown, who = admin) => {
      const res = await fetch(`${peer.url}/api/v1/${path}`, {
        method,
        headers: {
          'x-user-id': who.userId,
          'x-auth-token': who.authToken,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect(await call('GET', 'users.info?username=bot')).toEqual({
      status: 400,
      body: { success: false, error: 'User not found.' },
    });
    const bot = { name: 'Bot', email: 'bot@example.com', password: 'pw-123456', username: 'bot', roles: ['bot'] };
    expect(await call('POST', 'users.create', bot)).toMatchObject({
      status: 200,
      body: { success: true, user: { username: 'bot', roles: ['bot'], type: 'bot' } },
    });
    expect(await call('POST', 'users.create', bot)).toMatchObject({
      status: 400,
      body: { errorType: 'error-field-unavailable' },
    });
    const userId = (await call('GET', 'users.info?username=bot')).body['user'] as { _id: string };
    expect(
      await call('POST', 'users.update', { userId: userId._id, data: { password: 'new-password' } }),
    ).toMatchObject({
      status: 200,
    });
    expect(peer.userInfo('bot')?.password).toBe('new-password');
    const plain = peer.tokenFor('someone');
    expect((await call('POST', 'users.create', { ...bot, username: 'x' }, plain)).status).toBe(403);
    expect(peer.violations).toEqual([]);
  });
});

async function api(peer: Peer, as: { userId: string; authToken: string }, path: string, body?: unknown) {
  const res = await fetch(`${peer.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', 'x-user-id': as.userId, 'x-auth-token': as.authToken },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A checked peer with the bot's DM room with "ops". */
async function peerWithRoom() {
  const peer = await startPeer();
  peers.push(peer);
  peer.addUser('ops');
  const bot = peer.tokenFor('webhook-bot');
  const created = await api(peer, bot, '/api/v1/dm.create', { username: 'ops' });
  return { peer, bot, rid: (created.body['room'] as { rid: string }).rid };
}

describe("rocketchat-peer answers as Rocket.Chat's source does", () => {
  it('answers a re-sent message _id with the 400 of chat.sendMessage (no duplicate-key error) and stores it once', async () => {
    const { peer, bot, rid } = await peerWithRoom();
    const message = { _id: 'AbCdEfGhJkLmNpQrS', rid, msg: 'hello' };
    const first = await api(peer, bot, '/api/v1/chat.sendMessage', { message });
    expect(first).toMatchObject({ status: 200, body: { success: true, message: { _id: message._id } } });
    const again = await api(peer, bot, '/api/v1/chat.sendMessage', { message });
    expect(again).toEqual({
      status: 400,
      body: { success: false, error: "Cannot read properties of undefined (reading 'starred')" },
    });
    expect(JSON.stringify(again.body)).not.toMatch(/E11000|duplicate/i);
    expect(peer.messages).toHaveLength(1);
    expect(peer.violations).toEqual([]);
  });

  it('serves chat.getMessage: the message to a member of its room, 400 {success:false} for an unknown id, error-not-allowed to others, 401 without a token', async () => {
    const { peer, bot, rid } = await peerWithRoom();
    const outsider = peer.tokenFor('someone-else');
    await api(peer, bot, '/api/v1/chat.sendMessage', { message: { _id: 'm1m1m1m1m1m1m1m1m', rid, msg: 'hi' } });
    const found = await api(peer, bot, '/api/v1/chat.getMessage?msgId=m1m1m1m1m1m1m1m1m');
    expect(found).toMatchObject({
      status: 200,
      body: { success: true, message: { _id: 'm1m1m1m1m1m1m1m1m', rid, msg: 'hi' } },
    });
    expect(await api(peer, bot, '/api/v1/chat.getMessage?msgId=unknown')).toEqual({
      status: 400,
      body: { success: false },
    });
    expect(await api(peer, outsider, '/api/v1/chat.getMessage?msgId=m1m1m1m1m1m1m1m1m')).toMatchObject({
      status: 400,
      body: { errorType: 'error-not-allowed' },
    });
    const anonymous = await fetch(`${peer.url}/api/v1/chat.getMessage?msgId=m1m1m1m1m1m1m1m1m`);
    expect(anonymous.status).toBe(401);
    expect(peer.violations).toEqual([]);
  });

  it('can store a message and then lose its reply (connection reset or a proxy 504), once per count', async () => {
    const { peer, bot, rid } = await peerWithRoom();
    peer.behaviour.loseReplies = { count: 1, how: 'reset' };
    await expect(
      api(peer, bot, '/api/v1/chat.sendMessage', { message: { _id: 'r1', rid, msg: 'a' } }),
    ).rejects.toThrow();
    expect(peer.messages.map((m) => m._id)).toEqual(['r1']);
    peer.behaviour.loseReplies = { count: 1, how: 'gateway-timeout' };
    expect((await api(peer, bot, '/api/v1/chat.sendMessage', { message: { _id: 'r2', rid, msg: 'b' } })).status).toBe(
      504,
    );
    expect((await api(peer, bot, '/api/v1/chat.sendMessage', { message: { _id: 'r3', rid, msg: 'c' } })).status).toBe(
      200,
    );
    expect(peer.messages.map((m) => m._id)).toEqual(['r1', 'r2', 'r3']);
  });
});
