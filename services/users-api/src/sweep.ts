// The staging sweep's executor: lists staging/, gathers each object's facts (its owner's email, that user's
// item), asks the pure decide() what to do, does it, and tallies the run. Thin on purpose: the decision and
// its cases live in domain/sweep.ts, where unit tests drive them.
//
// Every replica sweeps on its own timer: every action is idempotent (a copy of the same bytes, a delete),
// so two sweeps racing over one object end in the same state, with no lease to hold.
import type { Logger } from '@sre-platform/service-kit';

import type { AvatarStore } from './adapters/avatars.ts';
import type { UsersTable } from './adapters/users-table.ts';
import { decide, SweepRun, type SweepSettings } from './domain/sweep.ts';
import type { AppMetrics } from './metrics.ts';

export interface SweepDeps {
  avatars: AvatarStore;
  users: UsersTable;
  settings: SweepSettings;
  metrics: AppMetrics;
  log: Logger;
}

export async function sweepOnce(deps: SweepDeps, now: () => number = Date.now) {
  const run = new SweepRun(now());
  const { avatars, users, settings, metrics, log } = deps;
  try {
    for await (const page of avatars.listStaging()) {
      for (const object of page) {
        run.listed++;
        let outcome: Parameters<SweepRun['record']>[0];
        try {
          const owner = await avatars.stagingOwner(object.key);
          if (owner.gone) {
            outcome = 'vanished';
          } else {
            const { email } = owner;
            const item = email === undefined ? undefined : await users.get(email);
            const ageSeconds = (now() - object.lastModified.getTime()) / 1000;
            const decision = decide({ key: object.key, ageSeconds, email, item }, settings);
            outcome = decision.action;
            if (decision.action === 'promote') {
              const done = await avatars.promote(decision.from, decision.to, decision.type, email ?? '');
              if (done === 'vanished') outcome = 'vanished';
              else log.info({ from: decision.from, to: decision.to }, 'sweep: promoted a staging object');
            } else if (decision.action === 'delete') {
              await avatars.delete(object.key);
              log.info({ key: object.key, reason: decision.reason }, 'sweep: deleted a staging object');
            }
          }
        } catch (err) {
          outcome = 'failed';
          log.warn(
            { key: object.key, error: err instanceof Error ? err.message : String(err) },
            'sweep: object failed',
          );
        }
        run.record(outcome);
        metrics.sweepObjects.inc({ action: outcome });
      }
    }
  } catch (err) {
    metrics.sweepRuns.inc({ result: 'failed' });
    log.warn(
      { error: err instanceof Error ? err.message : String(err), ...run.result(now()) },
      'sweep: listing failed',
    );
    return { ok: false as const, ...run.result(now()) };
  }
  const result = run.result(now());
  metrics.sweepRuns.inc({ result: result.failed > 0 ? 'partial' : 'ok' });
  if (result.listed > 0) log.info(result, 'sweep: done');
  else log.debug(result, 'sweep: done');
  return { ok: true as const, ...result };
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
