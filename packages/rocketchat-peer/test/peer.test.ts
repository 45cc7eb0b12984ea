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
