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
