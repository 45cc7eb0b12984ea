// A readiness check whose success is remembered for `ttlMs`; a failure is not (the next probe asks again).
export function cachedCheck(check: (signal: AbortSignal) => Promise<void>, ttlMs: number) {
  let okUntil = 0;
  return async (signal: AbortSignal) => {
    if (Date.now() < okUntil) return;
    await check(signal);
    okUntil = Date.now() + ttlMs;
  };
}
