// CPU time of a process tree, for benchmarks on a shared machine: wall-clock rates depend on what
// else runs, CPU spent per operation much less so. Linux only (reads /proc); elsewhere it returns
// undefined and benchmarks print wall-clock figures alone.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on every mainstream Linux build

interface Stat {
  ppid: number;
  seconds: number;
}

function stat(pid: string): Stat | undefined {
  try {
    // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // Now fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, and cutime 16 and
    // cstime 17 hold what its exited (and reaped) children used: a load generator that ran and
    // exited inside a measurement is counted there.
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    return { ppid: Number(fields[1]), seconds: ticks / TICKS_PER_SECOND };
  } catch {
    return undefined; // exited meanwhile
  }
}

/**
 * CPU seconds (user + system) used so far by `root` and every descendant, live or exited and reaped;
 * undefined off Linux.
 */
export function treeCpuSeconds(root: number = process.pid): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  const stats = new Map<number, Stat>();
  for (const pid of entries) {
    const s = stat(pid);
    if (s) stats.set(Number(pid), s);
  }
  const children = new Map<number, number[]>();
  for (const [pid, s] of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), pid]);
  let total = 0;
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.pop() as number;
    total += stats.get(pid)?.seconds ?? 0;
    queue.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** Runs `work` and returns its result with the CPU seconds the whole tree spent meanwhile. */
export async function measureCpu<T>(work: () => Promise<T>): Promise<{ result: T; cpuSeconds: number | undefined }> {
  const before = treeCpuSeconds();
  const result = await work();
  const after = treeCpuSeconds();
  return { result, cpuSeconds: before === undefined || after === undefined ? undefined : after - before };
}
