// Each stream's lifecycle at the orchestrator, idle → live → ended, kept in SQLite (`streams.sqlite`) so a
// restart neither forgets an ended stream nor announces a live one a second time. Fed by the stream sessions:
// a session opened with no renditions is `idle`, the first request naming renditions (the broadcaster probed
// its first segment) makes it `live`, closing or lapsing makes it `ended`. A reconnect within the
// broadcaster's grace period never closes the session, so the stream stays `live` through it. Emits
// `started` and `ended` once per run of a stream; webhooks and logs listen.

import { EventEmitter } from 'node:events';
import type { DatabaseSync } from 'node:sqlite';
import type { SessionRequest } from '../protocol/stream-record.ts';
import type { StreamState } from '../protocol/stream-status.ts';
import type { WebhookEndpoint } from '../protocol/webhook.ts';
import { openDatabase } from '../storage/sqlite.ts';

export interface StreamRecord {
  playbackId: string;
  /** The broadcaster key that owns the session (lower case). */
  owner: string;
  state: StreamState;
  startedAt: string | null;
  endedAt: string | null;
  renditions: SessionRequest['renditions'];
  publisher: string | null;
  /** Why it ended: its broadcaster closed it, or stopped refreshing it. */
  endReason: 'closed' | 'expired' | null;
  /** The origin relay's node id (the one node whose recording reports count), as last assigned. */
  relay: string | null;
  /** The stream key's own webhook receivers, as its owner last sent them: never shown by the API. */
  webhooks: WebhookEndpoint[];
  /** What the recorder last reported about the stream's recording; null when none did. */
  recording: unknown;
}

export interface StreamLifecycleEvents {
  started: [StreamRecord];
  ended: [StreamRecord];
}

export interface StreamLifecycleOptions {
  /** SQLite file, or `:memory:`. */
  path: string;
  /** Ended streams kept at most; the oldest ended go first (live ones are bounded by the sessions' cap). */
  maxEnded?: number;
  now?: () => number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS streams (
  playback_id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  state TEXT NOT NULL,
  started_at TEXT,
  ended_at TEXT,
  renditions TEXT NOT NULL,
  publisher TEXT,
  end_reason TEXT,
  updated_ms INTEGER NOT NULL,
  relay TEXT,
  webhooks TEXT NOT NULL DEFAULT '[]',
  recording TEXT
);
CREATE INDEX IF NOT EXISTS streams_ended ON streams (state, updated_ms);
`;

interface Row {
  playback_id: string;
  owner: string;
  state: StreamState;
  started_at: string | null;
  ended_at: string | null;
  renditions: string;
  publisher: string | null;
  end_reason: StreamRecord['endReason'];
  relay: string | null;
  webhooks: string;
  recording: string | null;
}

const fromRow = (r: Row): StreamRecord => ({
  playbackId: r.playback_id,
  owner: r.owner,
  state: r.state,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  renditions: JSON.parse(r.renditions) as StreamRecord['renditions'],
  publisher: r.publisher,
  endReason: r.end_reason,
  relay: r.relay,
  webhooks: JSON.parse(r.webhooks) as WebhookEndpoint[],
  recording: r.recording === null ? null : (JSON.parse(r.recording) as unknown),
});

export const MAX_ENDED_STREAMS = 10_000;

export class StreamLifecycle extends EventEmitter<StreamLifecycleEvents> {
  private readonly db: DatabaseSync;
  private readonly now: () => number;
  private readonly maxEnded: number;
  /** Records read once and kept: every session refresh consults it, SQLite is written on changes only. */
  private readonly records = new Map<string, StreamRecord>();

  constructor(options: StreamLifecycleOptions) {
    super();
    this.db = openDatabase(options.path, SCHEMA);
    this.now = options.now ?? Date.now;
    this.maxEnded = options.maxEnded ?? MAX_ENDED_STREAMS;
    for (const row of this.db.prepare('SELECT * FROM streams').all() as unknown as Row[]) this.records.set(row.playback_id, fromRow(row));
  }

  get(playbackId: string): StreamRecord | undefined {
    return this.records.get(playbackId);
  }

  /** Streams not ended (after a restart: those whose broadcaster has yet to refresh them). */
  unended(): StreamRecord[] {
    return [...this.records.values()].filter((r) => r.state !== 'ended');
  }

  /** A session was opened or refreshed with `request` by `owner`, on origin relay `relay` (its node id). */
  observe(request: SessionRequest, owner: string, relay: string | null = null): void {
    const old = this.records.get(request.playbackId);
    const rerun = !old || old.state === 'ended';
    const live = request.renditions.length > 0;
    const state: StreamState = live ? 'live' : rerun ? 'idle' : old.state;
    const publisher = request.publisher ?? null;
    const webhooks = request.webhooks ?? [];
    if (!rerun && old.state === state && old.publisher === publisher && old.relay === relay && sameRenditions(old.renditions, request.renditions) && JSON.stringify(old.webhooks) === JSON.stringify(webhooks)) return;
    const goesLive = state === 'live' && (rerun || old.state !== 'live');
    const record: StreamRecord = {
      playbackId: request.playbackId,
      owner,
      state,
      startedAt: goesLive ? new Date(this.now()).toISOString() : rerun ? null : old.startedAt,
      endedAt: null,
      renditions: live || rerun ? request.renditions : old.renditions,
      publisher,
      endReason: null,
      relay,
      webhooks,
      recording: rerun ? null : old.recording,
    };
    this.write(record);
    if (goesLive) this.emit('started', record);
  }

  /** The stream's session closed or lapsed; nothing when it is unknown or already ended. */
  end(playbackId: string, reason: 'closed' | 'expired'): void {
    const old = this.records.get(playbackId);
    if (!old || old.state === 'ended') return;
    const record: StreamRecord = { ...old, state: 'ended', endedAt: new Date(this.now()).toISOString(), endReason: reason };
    this.write(record);
    // A stream that never published anything had nothing to end for its listeners.
    if (old.state === 'live') this.emit('ended', record);
    this.trim();
  }

  /** The recorder's report about the stream's recording (shown as `recording` in its status). */
  setRecording(playbackId: string, recording: unknown): void {
    const old = this.records.get(playbackId);
    if (old) this.write({ ...old, recording });
  }

  private write(r: StreamRecord): void {
    this.records.set(r.playbackId, r);
    this.db
      .prepare('INSERT OR REPLACE INTO streams (playback_id, owner, state, started_at, ended_at, renditions, publisher, end_reason, updated_ms, relay, webhooks, recording) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(r.playbackId, r.owner, r.state, r.startedAt, r.endedAt, JSON.stringify(r.renditions), r.publisher, r.endReason, this.now(), r.relay, JSON.stringify(r.webhooks), r.recording === null || r.recording === undefined ? null : JSON.stringify(r.recording));
  }

  private trim(): void {
    const { n } = this.db.prepare("SELECT count(*) AS n FROM streams WHERE state = 'ended'").get() as { n: number };
    if (n <= this.maxEnded) return;
    const gone = this.db.prepare("SELECT playback_id FROM streams WHERE state = 'ended' ORDER BY updated_ms ASC LIMIT ?").all(n - this.maxEnded) as Array<{ playback_id: string }>;
    for (const { playback_id } of gone) {
      this.records.delete(playback_id);
      this.db.prepare('DELETE FROM streams WHERE playback_id = ?').run(playback_id);
    }
  }

  private closed = false;

  /** Closes the database; again is nothing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

function sameRenditions(a: StreamRecord['renditions'], b: StreamRecord['renditions']): boolean {
  return a.length === b.length && a.every((r, i) => r.name === b[i]!.name && r.width === b[i]!.width && r.height === b[i]!.height);
}
