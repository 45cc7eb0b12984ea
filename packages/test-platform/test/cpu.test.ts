import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import { measureCpu, treeCpuSeconds } from '../src/cpu.ts';

describe.runIf(process.platform === 'linux')('treeCpuSeconds', () => {
  it("counts a busy child's CPU in its parent's tree", async () => {
    const before = treeCpuSeconds() as number;
    const child = spawn(process.execPath, ['-e', 'for (;;);']);
    try {
      const deadline = Date.now() + 30_000;
      while ((treeCpuSeconds(child.pid) ?? 0) < 0.2) {
        if (Date.now() > deadline) throw new Error('the busy child never accumulated 0.2 s of CPU');
        await sleep(50);
      }
      const childCpu = treeCpuSeconds(child.pid) as number;
      expect((treeCpuSeconds() as number) - before).toBeGreaterThanOrEqual(childCpu);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('still counts a child that has exited and been reaped', async () => {
    const { cpuSeconds } = await measureCpu(
      () =>
        new Promise<void>((resolve, reject) => {
          // Spins until it has used 0.4 s of CPU, however long a loaded machine takes to give it that.
          const busy = 'for (let u = process.cpuUsage(); u.user + u.system < 400_000; u = process.cpuUsage());';
          spawn(process.execPath, ['-e', busy])
            .on('exit', () => resolve())
            .on('error', reject);
        }),
    );
    // 0.4 s, less one clock tick (/proc counts in hundredths of a second).
    expect(cpuSeconds).toBeGreaterThanOrEqual(0.39);
  });

  it('counts CPU, not waiting time', async () => {
    const idle = await measureCpu(() => sleep(500));
    expect(idle.cpuSeconds).toBeLessThan(0.15);
  });

  it('counts nothing for a process that does not exist', () => {
    expect(treeCpuSeconds(2 ** 22 + 12345)).toBe(0);
  });
});
