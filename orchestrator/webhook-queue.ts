// The orchestrator's webhook deliveries: a queue in SQLite (`webhooks.sqlite`) written before any attempt,
// so a delivery queued or retrying when the orchestrator stops is sent after it starts again (at least
// once: an attempt in flight at a crash is made again, with the same event id). Each attempt is a POST of
// the event's JSON, signed afresh (protocol/webhook.ts) with the attempt's timestamp; a 2xx delivers it,
// anything else (or no answer within the timeout) retries with exponential backoff up to `maxAttempts`.
// A receiver the outbound policy refuses (a private address without --allow-private-nodes, a redirect)
// fails at once: retrying would not change the answer. The queue and the log of finished deliveries are
// bounded. The log is what `GET /api/webhooks/deliveries` answers.

import { EventEmitter } from 'node:events';
import type { DatabaseSync } from 'node:sqlite';
import { OutboundRefusedError, type Fetch } from '../http/outbound-fetch.ts';
import type { Logger } from '../observability/logger.ts';
import { signWebhook, WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, type WebhookDeliveryListing, type WebhookEndpoint, type WebhookEvent } from '../protocol/webhook.ts';
import { openDatabase } from '../storage/sqlite.ts';

export type DeliveryState = 'pending' | 'delivered' | 'failed';

/** One delivery of one event to one receiver, as the log shows it (no secret; the URL without its query). */
export type WebhookDelivery = WebhookDeliveryListing;

export interface WebhookQueueOptions {
  /** SQLite file, or `:memory:`. */
  path: string;
  /** The outbound fetch (no private addresses unless allowed, no redirects). */
  fetch: Fetch;
  logger: Logger;
  /** The first retry waits this long; each next one twice as long, up to `maxRetryMs`. */
  retryBaseMs?: number;
  maxRetryMs?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  /** Deliveries attempted at once. */
  concurrency?: number;
  /** Pending deliveries at most; past it new ones are dropped (and logged). */
  maxPending?: number;
  /** Finished deliveries kept in the log. */
  keepFinished?: number;
  pollMs?: number;
  now?: () => number;
}

export interface WebhookQueueEvents {
  delivered: [WebhookDelivery];
  retrying: [WebhookDelivery];
  failed: [WebhookDelivery];
  dropped: [{ eventId: string; url: string }];
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL,
  type TEXT NOT NULL,
  playback_id TEXT NOT NULL,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  body TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at_ms INTEGER,
  last_status INTEGER,
  last_error TEXT,
  created_ms INTEGER NOT NULL,
  finished_ms INTEGER
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_at_ms);
CREATE INDEX IF NOT EXISTS deliveries_stream ON deliveries (playback_id, id);
`;

interface Row {
  id: number;
  event_id: string;
  type: string;
  playback_id: string;
  url: string;
  secret: string;
  body: string;
  state: DeliveryState;
  attempts: number;
  next_at_ms: number | null;
  last_status: number | null;
  last_error: string | null;
  created_ms: number;
  finished_ms: number | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The URL as the public log shows it: a query may carry the receiver's own token. */
function shownUrl(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

function toDelivery(r: Row): WebhookDelivery {
  return {
    id: r.id,
    eventId: r.event_id,
    type: r.type,
    playbackId: r.playback_id,
    url: shownUrl(r.url),
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.state === 'pending' ? iso(r.next_at_ms) : null,
    lastStatus: r.last_status,
    lastError: r.last_error,
    createdAt: iso(r.created_ms)!,
    finishedAt: iso(r.finished_ms),
  };
}

/** Response bodies are not read: a receiver's answer is its status. */
const ERROR_TEXT_MAX = 300;

export class WebhookQueue extends EventEmitter<WebhookQueueEvents> {
  private readonly db: DatabaseSync;
  private readonly o: Required<Omit<WebhookQueueOptions, 'path' | 'fetch' | 'logger'>>;
  private readonly fetch: Fetch;
  private readonly logger: Logger;
  private readonly inFlight = new Map<number, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(options: WebhookQueueOptions) {
    super();
    this.db = openDatabase(options.path, SCHEMA);
    this.fetch = options.fetch;
    this.logger = options.logger.child({ component: 'webhooks' });
    this.o = {
      retryBaseMs: options.retryBaseMs ?? 1_000,
      maxRetryMs: options.maxRetryMs ?? 600_000,
      maxAttempts: options.maxAttempts ?? 8,
      timeoutMs: options.timeoutMs ?? 10_000,
      concurrency: options.concurrency ?? 4,
      maxPending: options.maxPending ?? 10_000,
      keepFinished: options.keepFinished ?? 1_000,
      pollMs: options.pollMs ?? 250,
      now: options.now ?? Date.now,
    };
  }

  /** Queues `event` for each endpoint (written before the first attempt); attempts start at the next poll. */
  enqueue(event: WebhookEvent, endpoints: ReadonlyArray<WebhookEndpoint>): void {
    if (endpoints.length === 0) return;
    const body = JSON.stringify(event);
    const now = this.o.now();
    const { n } = this.db.prepare("SELECT count(*) AS n FROM deliveries WHERE state = 'pending'").get() as { n: number };
    const insert = this.db.prepare("INSERT INTO deliveries (event_id, type, playback_id, url, secret, body, state, next_at_ms, created_ms) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)");
    let room = this.o.maxPending - n;
    for (const e of endpoints) {
      if (room-- <= 0) {
        this.logger.warn({ eventId: event.id, type: event.type, url: shownUrl(e.url), maxPending: this.o.maxPending }, 'webhook dropped: the delivery queue is full');
        this.emit('dropped', { eventId: event.id, url: shownUrl(e.url) });
        continue;
      }
      insert.run(event.id, event.type, event.playbackId, e.url, e.secret, body, now, now);
    }
    queueMicrotask(() => this.poll());
  }

  /** Deliveries newest first, of one stream or all. */
  deliveries(options: { playbackId?: string; limit?: number } = {}): WebhookDelivery[] {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1_000);
    const rows = options.playbackId
      ? this.db.prepare('SELECT * FROM deliveries WHERE playback_id = ? ORDER BY id DESC LIMIT ?').all(options.playbackId, limit)
      : this.db.prepare('SELECT * FROM deliveries ORDER BY id DESC LIMIT ?').all(limit);
    return (rows as unknown as Row[]).map(toDelivery);
  }

  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => this.poll(), this.o.pollMs);
    this.timer.unref();
    this.poll();
  }

  /** Stops attempting and waits for the attempts in flight; what is pending stays queued in the file. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all(this.inFlight.values());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.stop();
    this.closed = true;
    this.db.close();
  }

  private poll(): void {
    if (!this.timer || this.closed) return;
    const free = this.o.concurrency - this.inFlight.size;
    if (free <= 0) return;
    const due = this.db.prepare("SELECT * FROM deliveries WHERE state = 'pending' AND next_at_ms <= ? ORDER BY next_at_ms LIMIT ?").all(this.o.now(), free + this.inFlight.size) as unknown as Row[];
    for (const row of due) {
      if (this.inFlight.size >= this.o.concurrency) break;
      if (this.inFlight.has(row.id)) continue;
      const attempt = this.attempt(row).finally(() => this.inFlight.delete(row.id));
      this.inFlight.set(row.id, attempt);
    }
  }

  private async attempt(row: Row): Promise<void> {
    const timestamp = Math.floor(this.o.now() / 1000);
    let status: number | null = null;
    let error: string | null = null;
    let final = false;
    try {
      const res = await this.fetch(row.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'castnet-webhooks/1', [WEBHOOK_SIGNATURE_HEADER]: signWebhook(row.secret, timestamp, row.body), [WEBHOOK_ID_HEADER]: row.event_id },
        body: row.body,
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      status = res.status;
      await res.body?.cancel().catch(() => {});
      if (!res.ok) error = `answered ${res.status}`;
    } catch (err) {
      final = err instanceof OutboundRefusedError;
      error = (final ? `refused: ${(err as Error).message}` : ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message).slice(0, ERROR_TEXT_MAX);
    }
    if (this.closed) return;
    const attempts = row.attempts + 1;
    const now = this.o.now();
    let state: DeliveryState = 'pending';
    let nextAt: number | null = null;
    if (error === null) state = 'delivered';
    else if (final || attempts >= this.o.maxAttempts) state = 'failed';
    else nextAt = now + Math.min(this.o.maxRetryMs, this.o.retryBaseMs * 2 ** (attempts - 1));
    this.db
      .prepare('UPDATE deliveries SET state = ?, attempts = ?, next_at_ms = ?, last_status = ?, last_error = ?, finished_ms = ? WHERE id = ?')
      .run(state, attempts, nextAt, status, error, state === 'pending' ? null : now, row.id);
    const delivery = toDelivery({ ...row, state, attempts, next_at_ms: nextAt, last_status: status, last_error: error, finished_ms: state === 'pending' ? null : now });
    const context = { eventId: row.event_id, type: row.type, playbackId: row.playback_id, url: delivery.url, attempts, status, error };
    if (state === 'delivered') {
      this.logger.info(context, 'webhook delivered');
      this.emit('delivered', delivery);
    } else if (state === 'failed') {
      this.logger.warn(context, final ? 'webhook failed: the receiver is refused by the outbound policy' : `webhook failed after ${attempts} attempts`);
      this.emit('failed', delivery);
    } else {
      this.logger.info({ ...context, nextAttemptAt: delivery.nextAttemptAt }, 'webhook attempt failed: retrying');
      this.emit('retrying', delivery);
    }
    if (state !== 'pending') this.trimFinished();
  }

  private trimFinished(): void {
    this.db.prepare("DELETE FROM deliveries WHERE state != 'pending' AND id NOT IN (SELECT id FROM deliveries WHERE state != 'pending' ORDER BY id DESC LIMIT ?)").run(this.o.keepFinished);
  }
}
