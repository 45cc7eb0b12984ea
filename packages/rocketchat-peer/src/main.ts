// `make up` runs this peer on port 3100 so that webhook-app has a Rocket.Chat to deliver to.
// Its bot user and the default recipient are created at start; messages are logged as they arrive.
import { runMain } from '@sre-platform/service-kit';

import { startPeer } from './peer.ts';

runMain('rocketchat-peer', '0.1.0', async () => {
  const peer = await startPeer({
    port: Number(process.env['PORT'] ?? 3100),
    host: process.env['HOST'] ?? '127.0.0.1',
    // PEER_CHECK_CONTRACTS=false skips the checks entirely (the benchmark uses it).
    checkContracts: process.env['PEER_CHECK_CONTRACTS'] !== 'false',
  });
  peer.addUser('webhook-bot', process.env['PEER_BOT_PASSWORD'] ?? 'webhook-bot-password');
  peer.addUser(process.env['PEER_RECIPIENT'] ?? 'ops');
  const seen = { count: 0 };
  setInterval(() => {
    for (const m of peer.messages.slice(seen.count))
      peer.service.logger.warn({ to: m.to, text: m.msg }, 'direct message received');
    seen.count = peer.messages.length;
  }, 500).unref();
  return peer.service;
});
