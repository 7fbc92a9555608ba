// Timers whose time moves only when a test says so: `advance(ms)` runs, in order, every timer that falls due.
// For unit tests of the stream objects (hedging deadlines, rate limits, grace periods).

import type { TimerHandle, Timers } from './timers.ts';

interface Pending {
  at: number;
  order: number;
  fn: () => void;
}

export class ManualTimers implements Timers {
  private time: number;
  private order = 0;
  private readonly pending = new Set<Pending>();

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: Pending = { at: this.time + Math.max(0, ms), order: this.order++, fn };
    this.pending.add(timer);
    return timer as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle | null | undefined): void {
    if (handle) this.pending.delete(handle as unknown as Pending);
  }

  /** Timers not yet run or cleared. */
  get size(): number {
    return this.pending.size;
  }

  /** Moves time forward by `ms`, running each timer due on the way at its own time. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.pending].filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.order - b.order)[0];
      if (!due) break;
      this.pending.delete(due);
      this.time = due.at;
      due.fn();
    }
    this.time = end;
  }
}
