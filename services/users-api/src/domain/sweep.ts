// The orphan sweep's decisions, pure: which avatar keys a run reads, what to do with one object given what the
// bucket and the table say about it, and how far the run may move the checkpoint. The executor (src/sweep.ts)
// gathers the facts, applies the decisions and counts them.
//
// Why there are orphans: POST /user streams the avatar to avatars/<uuidv7>.<ext> before the table write that
// makes the user exist. A request that fails or conflicts deletes its object itself; a process that dies between
// the two writes leaves an object no user references. Avatar keys sort by creation time (UUIDv7), so a run lists
// only the keys made since the checkpoint (where the last run stopped) and older than sweepAfterSeconds (longer
// than any request takes: POST /user gives up on a write that would finish later, see app.ts), and deletes those
// no item references. Every object is judged about once, whatever the size of the bucket.
import { avatarKeysFrom, avatarKeyTime, parseAvatarUrl, type User } from './user.ts';

/** Where the sweep keeps its progress: one small object, read and written by every replica's sweep. */
export const CHECKPOINT_KEY = 'sweep/checkpoint.json';

/** The checkpoint object's body; anything else read there counts as no checkpoint (the next run starts over). */
export function parseCheckpoint(body: string): number | undefined {
  try {
    const value = (JSON.parse(body) as { verifiedBefore?: unknown }).verifiedBefore;
    return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

export const formatCheckpoint = (verifiedBefore: number) =>
  JSON.stringify({ verifiedBefore, verifiedBeforeIso: new Date(verifiedBefore).toISOString() });

export interface AvatarFacts {
  key: string;
  /** The object's `email` metadata; undefined when it has none (not written by this service). */
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
  { action: 'keep'; reason: 'referenced' | 'no-owner' } | { action: 'delete'; reason: 'unreferenced' };

export function decide(facts: AvatarFacts, settings: SweepSettings): SweepDecision {
  // Objects without our metadata were not written by POST /user: not ours to delete.
  if (facts.email === undefined) return { action: 'keep', reason: 'no-owner' };
  const target =
    facts.item === undefined ? undefined : parseAvatarUrl(facts.item.avatar_url, settings.bucket, settings.region);
  // The owner's item references exactly this object: a user's avatar.
  if (target?.key === facts.key) return { action: 'keep', reason: 'referenced' };
  // No item (the process died before the table write), or the item is another upload's (a duplicate request
  // that died before deleting its object): nobody can ever reach this object.
  return { action: 'delete', reason: 'unreferenced' };
}

/** The avatar keys one run judges: made at or after `from`, before `before` (ms since the epoch). */
export interface SweepWindow {
  from: number;
  before: number;
  /** The ListObjectsV2 StartAfter for `from`. */
  startAfter: string;
  /** Listing stops at the first key at or after this one (keys sort by time; younger keys wait). */
  stopAt: string;
}

/** A run's window: from the stored checkpoint (or the beginning, the first time) to now - sweepAfterSeconds. */
export function sweepWindow(checkpoint: number | undefined, now: number, sweepAfterSeconds: number): SweepWindow {
  const from = checkpoint ?? 0;
  const before = Math.max(from, now - sweepAfterSeconds * 1000);
  return { from, before, startAfter: avatarKeysFrom(from), stopAt: avatarKeysFrom(before) };
}

/** What the executor does with one listed key before gathering facts. */
export function triage(key: string, window: SweepWindow): 'stop' | 'foreign' | 'judge' {
  if (key >= window.stopAt) return 'stop';
  // A key that is not `avatars/<uuidv7>.<ext>` (written by hand, or by an older version with random UUIDs)
  // carries no time: never judged, never deleted.
  return avatarKeyTime(key) === undefined ? 'foreign' : 'judge';
}

export type SweepOutcome = SweepDecision['action'] | 'foreign' | 'vanished' | 'failed';

/** One sweep's state and tally: created per run, dropped with it. */
export class SweepRun {
  readonly startedAt: number;
  readonly window: SweepWindow;
  listed = 0;
  kept = 0;
  deleted = 0;
  foreign = 0;
  /** Objects that disappeared between the listing and the check (a request or another replica deleted them). */
  vanished = 0;
  /** The time of the first key the run could not judge: the checkpoint stops there, the next run retries it. */
  failedAt: number | undefined;

  constructor(now: number, checkpoint: number | undefined, sweepAfterSeconds: number) {
    this.startedAt = now;
    this.window = sweepWindow(checkpoint, now, sweepAfterSeconds);
  }

  record(outcome: SweepOutcome, key: string): void {
    this.listed++;
    if (outcome === 'keep') this.kept++;
    else if (outcome === 'delete') this.deleted++;
    else if (outcome === 'foreign') this.foreign++;
    else if (outcome === 'vanished') this.vanished++;
    else this.failedAt ??= avatarKeyTime(key);
  }

  /** The checkpoint to store after the run, or undefined when it would not move. */
  nextCheckpoint(): number | undefined {
    const next = this.failedAt ?? this.window.before;
    return next > this.window.from ? next : undefined;
  }

  result(now: number) {
    const { listed, kept, deleted, foreign, vanished } = this;
    return {
      listed,
      kept,
      deleted,
      foreign,
      vanished,
      failed: this.failedAt === undefined ? 0 : 1,
      from: new Date(this.window.from).toISOString(),
      before: new Date(this.failedAt ?? this.window.before).toISOString(),
      durationMs: now - this.startedAt,
    };
  }
}
