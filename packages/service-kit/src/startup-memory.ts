// Giving back start-up garbage, once. A service allocates most of what it ever allocates while it starts (modules
// evaluated, schemas compiled, clients built); V8 grows its young generation to suit that rate and keeps it. Its
// memory reducer would shrink it once the process is idle, but it judges the allocation rate from the last
// garbage collection's samples, and an idle service has had none since start-up: it keeps finding the rate "high"
// and waiting (--trace-memory-reducer shows it), so the start-up heap stays committed for the process's life.
// One full collection of the kind V8 runs under memory pressure ("last resort", which also shrinks the young
// generation), when the service first reports ready, gives back about 4 MiB per isolate (the lean bench:
// tools/build/bench/lean.bench.ts). Under load the young generation grows back as the allocation rate asks.
//
// It needs node's --expose-gc, which the images pass (their CMD); without it (development, tests) this does nothing.
import { getHeapStatistics } from 'node:v8';

import type { Logger } from './logger.ts';

const MiB = 1024 * 1024;

let released = false;

/**
 * Runs the collection once per process, after the current I/O has been answered. Returns false (and does
 * nothing) when node was started without --expose-gc or when it has run already.
 */
export function releaseStartupMemory(logger?: Logger): boolean {
  const gc = globalThis.gc;
  if (released || typeof gc !== 'function') return false;
  released = true;
  setImmediate(() => {
    const before = getHeapStatistics().total_heap_size;
    const started = performance.now();
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    logger?.debug(
      {
        heapMiB: { before: +(before / MiB).toFixed(1), after: +(getHeapStatistics().total_heap_size / MiB).toFixed(1) },
        pauseMs: +(performance.now() - started).toFixed(1),
      },
      'start-up garbage released',
    );
  }).unref();
  return true;
}
