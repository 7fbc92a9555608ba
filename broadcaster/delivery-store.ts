// What the delivery payer must not forget when its broadcaster restarts (issue 14): the viewer sessions it
// certified (a player keeps its certificate across the restart and its receipts must still count), what each
// relay was credited per session and paid (so an old receipt presented again is a replay, not new bytes),
// the segments it published (the plausibility bound), and the next ticket nonce per relay's ticket parameters
// (a reused nonce is a duplicate ticket the relay cannot redeem). Kept in SQLite (`delivery.sqlite` in the
// broadcaster's data directory), written through: a claim's changes are committed in one transaction before
// its tickets leave, so a crash can cost a relay at most the one claim in flight, never pay it twice.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { inTransaction, openDatabase } from '../storage/sqlite.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS delivery_segments (
  playback_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  rendition TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  duration_s REAL NOT NULL,
  PRIMARY KEY (playback_id, seq, rendition)
);
CREATE TABLE IF NOT EXISTS delivery_sessions (
  playback_id TEXT NOT NULL,
  session_key TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  start_seq INTEGER NOT NULL,
  credited INTEGER NOT NULL,
  PRIMARY KEY (playback_id, session_key)
);
CREATE TABLE IF NOT EXISTS delivery_credits (
  playback_id TEXT NOT NULL,
  relay TEXT NOT NULL,
  owed_scaled TEXT NOT NULL,
  paid_scaled TEXT NOT NULL,
  PRIMARY KEY (playback_id, relay)
);
CREATE TABLE IF NOT EXISTS delivery_credit_bytes (
  playback_id TEXT NOT NULL,
  relay TEXT NOT NULL,
  session TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  edge INTEGER NOT NULL,
  PRIMARY KEY (playback_id, relay, session)
);
CREATE TABLE IF NOT EXISTS delivery_nonces (
  rand_hash TEXT PRIMARY KEY,
  nonce INTEGER NOT NULL,
  updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS delivery_streams (
  playback_id TEXT PRIMARY KEY
);
`;

export interface StoredSegment { seq: number; rendition: string; bytes: number; durationS: number }
export interface StoredSession { key: string; issuedAt: number; startSeq: number; credited: number }
export interface StoredCredit { relay: string; owedScaled: bigint; paidScaled: bigint; bytes: Array<{ session: string; bytes: number; edge: boolean }> }

export interface StoredStream {
  playbackId: string;
  segments: StoredSegment[];
  sessions: StoredSession[];
  credits: StoredCredit[];
}

/** One claim's changes, written together. */
export interface ClaimWrite {
  playbackId: string;
  relay: string;
  owedScaled: bigint;
  paidScaled: bigint;
  sessions: Array<{ key: string; credited: number }>;
  bytes: Array<{ session: string; bytes: number; edge: boolean }>;
  nonce: { randHash: string; next: number } | null;
}

export class DeliveryStore {
  private readonly db: DatabaseSync;
  private readonly q: Record<'stream' | 'segment' | 'dropSegment' | 'session' | 'credited' | 'credit' | 'bytes' | 'nonce' | 'trimNonces', StatementSync>;
  private updated = 0;

  /** `path`: a SQLite file, or `:memory:`. */
  constructor(path: string) {
    this.db = openDatabase(path, SCHEMA);
    this.q = {
      stream: this.db.prepare('INSERT OR IGNORE INTO delivery_streams (playback_id) VALUES (?)'),
      segment: this.db.prepare('INSERT OR IGNORE INTO delivery_segments (playback_id, seq, rendition, bytes, duration_s) VALUES (?, ?, ?, ?, ?)'),
      dropSegment: this.db.prepare('DELETE FROM delivery_segments WHERE playback_id = ? AND seq = ?'),
      session: this.db.prepare('INSERT OR IGNORE INTO delivery_sessions (playback_id, session_key, issued_at, start_seq, credited) VALUES (?, ?, ?, ?, 0)'),
      credited: this.db.prepare('UPDATE delivery_sessions SET credited = ? WHERE playback_id = ? AND session_key = ?'),
      credit: this.db.prepare('INSERT INTO delivery_credits (playback_id, relay, owed_scaled, paid_scaled) VALUES (?, ?, ?, ?) ON CONFLICT (playback_id, relay) DO UPDATE SET owed_scaled = excluded.owed_scaled, paid_scaled = excluded.paid_scaled'),
      bytes: this.db.prepare('INSERT INTO delivery_credit_bytes (playback_id, relay, session, bytes, edge) VALUES (?, ?, ?, ?, ?) ON CONFLICT (playback_id, relay, session) DO UPDATE SET bytes = excluded.bytes'),
      nonce: this.db.prepare('INSERT INTO delivery_nonces (rand_hash, nonce, updated) VALUES (?, ?, ?) ON CONFLICT (rand_hash) DO UPDATE SET nonce = excluded.nonce, updated = excluded.updated'),
      trimNonces: this.db.prepare('DELETE FROM delivery_nonces WHERE rand_hash NOT IN (SELECT rand_hash FROM delivery_nonces ORDER BY updated DESC LIMIT ?)'),
    };
    const row = this.db.prepare('SELECT max(updated) AS m FROM delivery_nonces').get() as { m: number | null };
    this.updated = row.m ?? 0;
  }

  /** Every stream remembered, with what it needs to judge receipts again. */
  load(): StoredStream[] {
    const ids = (this.db.prepare('SELECT playback_id FROM delivery_streams').all() as Array<{ playback_id: string }>).map((r) => r.playback_id);
    return ids.map((playbackId) => {
      const segments = (this.db.prepare('SELECT seq, rendition, bytes, duration_s FROM delivery_segments WHERE playback_id = ? ORDER BY seq').all(playbackId) as Array<{ seq: number; rendition: string; bytes: number; duration_s: number }>).map((r) => ({ seq: r.seq, rendition: r.rendition, bytes: r.bytes, durationS: r.duration_s }));
      const sessions = (this.db.prepare('SELECT session_key, issued_at, start_seq, credited FROM delivery_sessions WHERE playback_id = ?').all(playbackId) as Array<{ session_key: string; issued_at: number; start_seq: number; credited: number }>).map((r) => ({ key: r.session_key, issuedAt: r.issued_at, startSeq: r.start_seq, credited: r.credited }));
      const bytes = this.db.prepare('SELECT relay, session, bytes, edge FROM delivery_credit_bytes WHERE playback_id = ?').all(playbackId) as Array<{ relay: string; session: string; bytes: number; edge: number }>;
      const credits = (this.db.prepare('SELECT relay, owed_scaled, paid_scaled FROM delivery_credits WHERE playback_id = ?').all(playbackId) as Array<{ relay: string; owed_scaled: string; paid_scaled: string }>).map((r) => ({
        relay: r.relay,
        owedScaled: BigInt(r.owed_scaled),
        paidScaled: BigInt(r.paid_scaled),
        bytes: bytes.filter((b) => b.relay === r.relay).map((b) => ({ session: b.session, bytes: b.bytes, edge: b.edge === 1 })),
      }));
      return { playbackId, segments, sessions, credits };
    });
  }

  /** Next nonce per ticket parameters' recipientRandHash, oldest first. */
  nonces(): Array<[string, number]> {
    return (this.db.prepare('SELECT rand_hash, nonce FROM delivery_nonces ORDER BY updated').all() as Array<{ rand_hash: string; nonce: number }>).map((r) => [r.rand_hash, r.nonce]);
  }

  opened(playbackId: string): void {
    this.q.stream.run(playbackId);
  }

  published(playbackId: string, s: StoredSegment, dropSeq: number | null): void {
    if (dropSeq !== null) this.q.dropSegment.run(playbackId, dropSeq);
    this.q.segment.run(playbackId, s.seq, s.rendition, s.bytes, s.durationS);
  }

  sessionIssued(playbackId: string, s: Omit<StoredSession, 'credited'>): void {
    this.q.session.run(playbackId, s.key, s.issuedAt, s.startSeq);
  }

  /** A claim's credit, its sessions' and receipts' bytes and the next nonce, in one transaction. */
  claimed(w: ClaimWrite, maxNonces: number): void {
    this.transaction(() => {
      this.q.credit.run(w.playbackId, w.relay, w.owedScaled.toString(), w.paidScaled.toString());
      for (const s of w.sessions) this.q.credited.run(s.credited, w.playbackId, s.key);
      for (const b of w.bytes) this.q.bytes.run(w.playbackId, w.relay, b.session, b.bytes, b.edge ? 1 : 0);
      if (w.nonce) {
        this.q.nonce.run(w.nonce.randHash, w.nonce.next, ++this.updated);
        this.q.trimNonces.run(maxNonces);
      }
    });
  }

  /** The stream is forgotten (its claim grace is over). */
  closed(playbackId: string): void {
    this.transaction(() => {
      for (const table of ['delivery_streams', 'delivery_segments', 'delivery_sessions', 'delivery_credits', 'delivery_credit_bytes']) {
        this.db.prepare(`DELETE FROM ${table} WHERE playback_id = ?`).run(playbackId);
      }
    });
  }

  private isClosed = false;

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.db.close();
  }

  private transaction(fn: () => void): void {
    inTransaction(this.db, fn);
  }
}
