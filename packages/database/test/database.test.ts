// The adapter on embedded PGlite (in memory, and in a directory that survives a restart).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { openDatabase } from '../src/index.ts';
import { databaseContract } from './contract.ts';

// PGlite compiles its WebAssembly on every open: seconds of CPU, tens of seconds on a loaded machine.
describe('PGlite in memory', { timeout: 120_000 }, () => {
  databaseContract(() => openDatabase({}));

  it('says which kind it is', async () => {
    const db = await openDatabase({});
    expect(db.kind).toBe('pglite');
    await db.close();
  });
});

describe('PGlite in DATA_DIR', () => {
  it('keeps committed rows across a close and reopen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sre-platform-pglite-'));
    try {
      const first = await openDatabase({ dataDir: join(dir, 'nested') });
      await first.transaction(async (tx) => {
        await tx.query('create table kept (id int)');
        await tx.query('insert into kept values (1)');
      });
      await first.close();
      const second = await openDatabase({ dataDir: join(dir, 'nested') });
      expect(await second.query('select id from kept')).toEqual([{ id: 1 }]);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
