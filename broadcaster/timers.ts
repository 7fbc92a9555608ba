// The clock and timers the broadcaster's stream objects run on, injected so tests can move time by hand
// (see manual-timers.ts). Every timer is unref()ed: none of them alone keeps the process alive.

export type TimerHandle = { readonly __timer: unique symbol };

export interface Timers {
  /** Wall-clock milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | null | undefined): void;
}

export const systemTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref() as unknown as TimerHandle,
  clearTimeout: (handle) => {
    if (handle) clearTimeout(handle as unknown as NodeJS.Timeout);
  },
};
