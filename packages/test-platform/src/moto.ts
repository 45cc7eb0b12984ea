// A moto server for one test run: the real AWS APIs (DynamoDB, S3, IAM, CloudFormation, ...)
// spoken to the AWS SDK on loopback. Tests isolate themselves with unique resource names.
import { join } from 'node:path';

import { freePort, startManaged, waitFor } from './process.ts';
import { toolBin } from './tools.ts';

export interface MotoInfo {
  endpoint: string;
  region: string;
}

export async function startMoto(): Promise<{ info: MotoInfo; stop: () => Promise<void> }> {
  const bin = toolBin('moto');
  const port = await freePort();
  const proc = startManaged('moto', join(bin, 'moto_server'), ['-H', '127.0.0.1', '-p', String(port)]);
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitFor('moto', async () => (await fetch(`${endpoint}/moto-api/`)).ok, 30_000, proc);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { info: { endpoint, region: 'us-east-1' }, stop: () => proc.stop() };
}
