// The dashboard's server-sent events: one snapshot computed per tick (not per subscriber), serialized once
// and written to every subscriber only when it changed; a comment line as heartbeat in between so proxies
// and browsers keep the connection. Bounded: at most `maxSubscribers` at once (the next is refused with
// 503 and a reason), and a subscriber whose unsent bytes pass `maxBufferedBytes` (it reads slower than the
// dashboard changes) is closed rather than buffered for: its browser reconnects and gets the latest.
// Runs once per tick for all subscribers; per subscriber only a write of the shared string.

import type { Writable } from 'node:stream';
import { CastnetError } from '../protocol/errors.ts';

export interface DashboardHubOptions {
  /** What every subscriber is sent; called once per tick. */
  snapshot: () => unknown;
  tickMs: number;
  heartbeatMs: number;
  maxSubscribers: number;
  /** A subscriber with more unsent bytes than this is closed. */
  maxBufferedBytes: number;
}

export const defaultDashboardHubOptions = { tickMs: 1_000, heartbeatMs: 15_000, maxSubscribers: 64, maxBufferedBytes: 1024 * 1024 } as const;

/** What a subscriber is: the response stream (any Writable: an http.ServerResponse in the server). */
export type Subscriber = Pick<Writable, 'write' | 'end' | 'destroy' | 'writableLength' | 'once' | 'destroyed'>;

export type DropReason = 'slow' | 'closed' | 'hub_closed';

export class DashboardHub {
  private readonly options: DashboardHubOptions;
  private readonly subscribers = new Set<Subscriber>();
  private last: string | null = null;
  private computedAt = 0;
  private lastEventAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Counted for the tests and /healthz-style reads: subscribers closed for reading too slowly. */
  dropped = 0;

  constructor(options: DashboardHubOptions) {
    this.options = options;
  }

  get size(): number {
    return this.subscribers.size;
  }

  /** Adds a subscriber and sends it the current snapshot; UNAVAILABLE (503) past the cap. */
  subscribe(sub: Subscriber): void {
    if (this.closed) throw new CastnetError('UNAVAILABLE', 'the dashboard is shutting down', { reason: 'hub_closed' });
    if (this.subscribers.size >= this.options.maxSubscribers) {
      throw new CastnetError('UNAVAILABLE', `the dashboard has its ${this.options.maxSubscribers} live viewers already: retry later, or read /dashboard/snapshot`, { reason: 'dashboard_full' });
    }
    this.subscribers.add(sub);
    sub.once('close', () => this.subscribers.delete(sub));
    // retry: how long a browser's EventSource waits before reconnecting after a drop.
    this.send(sub, `retry: 3000\n\n`);
    this.send(sub, this.event(this.current(Date.now())));
    this.start();
  }

  /** Computes the snapshot once and sends it to everyone when it changed, else a heartbeat when one is due. */
  tick(now = Date.now()): void {
    if (this.subscribers.size === 0) return;
    const previous = this.last;
    const data = this.current(now, true);
    if (data !== previous) {
      this.lastEventAt = now;
      const event = this.event(data);
      for (const sub of [...this.subscribers]) this.send(sub, event);
    } else if (now - this.lastEventAt >= this.options.heartbeatMs) this.heartbeat(now);
  }

  /** A comment line every subscriber's EventSource ignores: keeps idle connections open. */
  heartbeat(now = Date.now()): void {
    this.lastEventAt = now;
    for (const sub of [...this.subscribers]) this.send(sub, `: heartbeat ${now}\n\n`);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const sub of [...this.subscribers]) sub.end();
    this.subscribers.clear();
  }

  private start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => this.tick(), this.options.tickMs);
    this.timer.unref();
  }

  /** The serialized snapshot: computed afresh each tick, and for a new subscriber when the last is a tick old. */
  private current(now: number, fresh = false): string {
    if (fresh || this.last === null || now - this.computedAt >= this.options.tickMs) {
      this.last = JSON.stringify(this.options.snapshot());
      this.computedAt = now;
    }
    return this.last;
  }

  private event(data: string): string {
    return `event: snapshot\ndata: ${data}\n\n`;
  }

  private send(sub: Subscriber, chunk: string): void {
    if (sub.destroyed) {
      this.subscribers.delete(sub);
      return;
    }
    // Whatever the subscriber has not taken yet stays in its buffer: past the bound, it goes.
    if (sub.writableLength + chunk.length > this.options.maxBufferedBytes) {
      this.dropped++;
      this.subscribers.delete(sub);
      sub.destroy();
      return;
    }
    sub.write(chunk);
  }
}
