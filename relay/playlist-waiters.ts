// Blocking playlist reloads (_HLS_msn) waiting for a media sequence number, for one rendition's playlist.
// Used by the origin store and by the edge's upstream follower; each owns one set per playlist.

import { CastnetError, type ErrorContext } from '../protocol/errors.ts';

interface Waiter {
  msn: number;
  wake: () => void;
}

export class PlaylistWaiters {
  private waiters: Waiter[] = [];
  /** Requests held at once: past it a blocking reload is refused with 503 rather than held (an attacker's sockets). */
  private readonly max: number;

  constructor(max = Number.POSITIVE_INFINITY) {
    this.max = max;
  }

  get size(): number {
    return this.waiters.length;
  }

  /** Resolves once `wake(n)` is called with n ≥ msn, or `wakeAll()`; rejects with 503 UNAVAILABLE after `timeoutMs`. */
  wait(msn: number, timeoutMs: number, context: ErrorContext): Promise<void> {
    if (this.waiters.length >= this.max) return Promise.reject(new CastnetError('TOO_MANY_CONNECTIONS', `${this.max} requests already wait on this playlist; retry`, { ...context, reason: 'waiters' }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new CastnetError('UNAVAILABLE', `segment ${msn} did not arrive within ${timeoutMs} ms`, context));
      }, timeoutMs);
      const waiter: Waiter = { msn, wake: () => (clearTimeout(timer), resolve()) };
      this.waiters.push(waiter);
    });
  }

  /** Wakes every waiter for a sequence number up to `newest`. */
  wake(newest: number): void {
    const due = this.waiters.filter((w) => w.msn <= newest);
    if (due.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.msn > newest);
    for (const w of due) w.wake();
  }

  /** Wakes every waiter: the playlist ended, so nothing they wait for will come. */
  wakeAll(): void {
    const all = this.waiters;
    this.waiters = [];
    for (const w of all) w.wake();
  }
}
