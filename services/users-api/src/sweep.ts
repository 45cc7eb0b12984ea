// The orphan sweep's executor: reads the checkpoint, lists avatars/ from there (oldest first), gathers each
// object's facts (its owner's email, that user's item), asks the pure decide() what to do, does it, tallies the
// run and stores how far it got. Thin on purpose: the decisions and their cases live in domain/sweep.ts, where
// unit tests drive them.
//
// Every replica sweeps on its own timer: deleting an unreferenced object is idempotent, and a checkpoint written
// by a slower replica only makes the next run judge some objects again, so there is no lease to hold.
import type { Logger } from '@sre-platform/service-kit';

import type { AvatarStore } from './adapters/avatars.ts';
import type { UsersTable } from './adapters/users-table.ts';
import { decide, SweepRun, triage, type SweepOutcome, type SweepSettings } from './domain/sweep.ts';
import type { AppMetrics } from './metrics.ts';

export interface SweepDeps {
  avatars: AvatarStore;
  users: UsersTable;
  settings: SweepSettings;
  metrics: AppMetrics;
  log: Logger;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export async function sweepOnce(deps: SweepDeps, now: () => number = Date.now) {
  const { avatars, users, settings, metrics, log } = deps;
  const failed = (err: unknown, what: string) => {
    metrics.sweepRuns.inc({ result: 'failed' });
    log.warn({ error: message(err) }, `sweep: ${what} failed`);
    return { ok: false as const };
  };
  let checkpoint;
  try {
    checkpoint = await avatars.readCheckpoint();
  } catch (err) {
    return failed(err, 'reading the checkpoint');
  }
  const run = new SweepRun(now(), checkpoint, settings.sweepAfterSeconds);
  try {
    pages: for await (const page of avatars.listAvatars(run.window.startAfter)) {
      for (const key of page) {
        const step = triage(key, run.window);
        if (step === 'stop') break pages;
        const outcome = step === 'foreign' ? 'foreign' : await judge(key);
        run.record(outcome, key);
        metrics.sweepObjects.inc({ action: outcome });
        // The checkpoint must not pass an object nobody judged: stop here, the next run starts from it.
        if (outcome === 'failed') break pages;
      }
    }
  } catch (err) {
    // The listing failed: nothing after the last judged key was seen, so the checkpoint stays where it was.
    return failed(err, 'listing');
  }
  const next = run.nextCheckpoint();
  if (next !== undefined) {
    try {
      await avatars.writeCheckpoint(next);
    } catch (err) {
      // Harmless beyond the cost: the next run judges this run's objects again.
      return failed(err, 'writing the checkpoint');
    }
  }
  const result = run.result(now());
  metrics.sweepRuns.inc({ result: result.failed > 0 ? 'partial' : 'ok' });
  if (result.deleted > 0 || result.failed > 0) log.info(result, 'sweep: done');
  else log.debug(result, 'sweep: done');
  return { ok: true as const, ...result };

  async function judge(key: string): Promise<SweepOutcome> {
    try {
      const owner = await avatars.owner(key);
      if (owner.gone) return 'vanished';
      const item = owner.email === undefined ? undefined : await users.get(owner.email);
      const decision = decide({ key, email: owner.email, item }, settings);
      if (decision.action === 'delete') {
        await avatars.delete(key);
        log.info({ key, reason: decision.reason }, 'sweep: deleted an orphaned avatar');
      }
      return decision.action;
    } catch (err) {
      log.warn({ key, error: message(err) }, 'sweep: object failed');
      return 'failed';
    }
  }
}

/** Runs a sweep now and then every `intervalMs`, one at a time; stop() waits for the current one. */
export function startSweeper(deps: SweepDeps, intervalMs: number): { stop: () => Promise<void> } {
  let stopped = false;
  let current: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    if (stopped) return;
    current = sweepOnce(deps).finally(() => {
      if (!stopped) timer = setTimeout(tick, intervalMs);
    });
  };
  tick();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current.catch(() => undefined);
    },
  };
}
