// The staging sweep's decision, pure: what to do with one object under staging/, given what the bucket and
// the table say about it. The executor (src/sweep.ts) gathers the facts, applies the decision and counts it.
//
// Why objects land in staging/ first: an upload streams to S3 before the table write that makes the user
// exist. A process that dies between the two leaves either an object no user references (delete it once it
// is older than any upload can take) or a user whose avatar was not yet moved to avatars/ (finish the move).
import type { ImageType } from './image-type.ts';
import { parseAvatarUrl, stagingId, type User } from './user.ts';

export interface StagingFacts {
  key: string;
  /** The object's age, from its LastModified. */
  ageSeconds: number;
  /** The object's `email` metadata; undefined when it has none (not ours, or written by hand). */
  email: string | undefined;
  /** The item of that email, when there is one. */
  item: User | undefined;
}

export interface SweepSettings {
  bucket: string;
  region: string;
  sweepAfterSeconds: number;
}

export type SweepDecision =
  | { action: 'promote'; from: string; to: string; type: ImageType }
  | { action: 'delete'; reason: 'unreferenced' | 'foreign-key' }
  | { action: 'keep'; reason: 'young' };

export function decide(facts: StagingFacts, settings: SweepSettings): SweepDecision {
  const id = stagingId(facts.key);
  if (id !== undefined && facts.item !== undefined) {
    const target = parseAvatarUrl(facts.item.avatar_url, settings.bucket, settings.region);
    // The user exists and references exactly this upload: the request died (or its copy failed) after the
    // table write. Promote at any age: the copy is idempotent, the user is already visible.
    if (target !== undefined && target.id === id) {
      return { action: 'promote', from: facts.key, to: target.key, type: target.type };
    }
  }
  // Anything else may still be an upload in progress until it is older than any upload takes.
  if (facts.ageSeconds < settings.sweepAfterSeconds) return { action: 'keep', reason: 'young' };
  return { action: 'delete', reason: id === undefined ? 'foreign-key' : 'unreferenced' };
}

/** One sweep's state and tally: created per run, dropped with it. */
export class SweepRun {
  readonly startedAt: number;
  listed = 0;
  promoted = 0;
  deleted = 0;
  kept = 0;
  failed = 0;
  /** Objects that disappeared between the listing and the action (a request finished its own move). */
  vanished = 0;

  constructor(now: number) {
    this.startedAt = now;
  }

  record(outcome: SweepDecision['action'] | 'failed' | 'vanished'): void {
    if (outcome === 'promote') this.promoted++;
    else if (outcome === 'delete') this.deleted++;
    else if (outcome === 'keep') this.kept++;
    else if (outcome === 'failed') this.failed++;
    else this.vanished++;
  }

  result(now: number) {
    const { listed, promoted, deleted, kept, failed, vanished } = this;
    return { listed, promoted, deleted, kept, failed, vanished, durationMs: now - this.startedAt };
  }
}
