// Winning tickets waiting to be redeemed, in node:sqlite in the data directory so a crash between winning
// and redeeming loses none, and a background loop that redeems them through the settlement's backend
// (settlement/settlement.ts): the ledger one ticket at a time, the chain in batches. The queue is also the
// journal of what is in flight: a signed transaction is recorded with the tickets it carries before it is
// broadcast, so after a crash the queue asks the chain what became of it instead of sending the tickets
// again. A refused ticket keeps the reason it was refused for and is never retried; a ticket that could not
// be settled for a passing reason is retried with backoff.

import type { DatabaseSync } from 'node:sqlite';
import { redemptionRequest, redemptionRequestSchema } from '../protocol/redemption.ts';
import { ticketHash, toHex, type Ticket } from '../protocol/ticket.ts';
import { addMissingColumns, inTransaction, openDatabase } from '../storage/sqlite.ts';
import type { QueuedWinner, RedemptionBackend, RedemptionJournal, RedemptionOutcome, SentBatch, SentTransaction } from './settlement.ts';

export type { RedemptionBackend, RedemptionOutcome };

export interface RedemptionResult {
  ticketHash: string;
  outcome: 'redeemed' | 'failed' | 'retry';
  paid?: bigint;
  error?: string;
  txHash?: string;
}

/** Backoff after a passing failure: 1 s, doubling, at most a minute. */
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 60_000;
/** Submissions per drain: bounds one drain's length when many winners wait. */
const MAX_SUBMISSIONS_PER_DRAIN = 20;

interface WinnerRow {
  ticket_hash: string;
  body: string;
  attempts: number;
  batch_id: number | null;
}

interface TransactionRow {
  hash: string;
  batch_id: number;
  raw: string;
  nonce: number;
  gas: string;
  max_fee: string;
  tip: string;
  sent_at: number;
}

function winnerOf(row: WinnerRow): QueuedWinner {
  const r = redemptionRequestSchema.parse(JSON.parse(row.body));
  return { ticketHash: row.ticket_hash, ticket: r.ticket, signature: r.signature, recipientRand: r.recipientRand };
}

export class RedemptionQueue implements RedemptionJournal {
  private readonly db: DatabaseSync;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly now: () => number;
  closed = false;

  constructor(path: string, options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
    this.db = openDatabase(
      path,
      `
      CREATE TABLE IF NOT EXISTS winners (
        ticket_hash TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
      );
      CREATE TABLE IF NOT EXISTS transactions (
        hash TEXT PRIMARY KEY,
        batch_id INTEGER NOT NULL,
        raw TEXT NOT NULL,
        nonce INTEGER NOT NULL,
        gas TEXT NOT NULL,
        max_fee TEXT NOT NULL,
        tip TEXT NOT NULL,
        sent_at INTEGER NOT NULL
      );`,
    );
    // Queues written before batches and outstanding amounts existed gain the columns.
    addMissingColumns(this.db, 'winners', [['sender', 'TEXT'], ['face_value', 'TEXT'], ['batch_id', 'INTEGER'], ['paid', 'TEXT'], ['tx_hash', 'TEXT']]);
    for (const row of this.db.prepare('SELECT ticket_hash, body FROM winners WHERE sender IS NULL').all() as Array<{ ticket_hash: string; body: string }>) {
      const t = (JSON.parse(row.body) as { ticket: { sender: string; faceValue: string } }).ticket;
      this.db.prepare('UPDATE winners SET sender = ?, face_value = ? WHERE ticket_hash = ?').run(t.sender.toLowerCase(), t.faceValue, row.ticket_hash);
    }
  }

  /** Persists a winner before anything else happens to it. */
  add(ticket: Ticket, signature: Uint8Array, recipientRand: Uint8Array): string {
    const hash = toHex(ticketHash(ticket));
    this.db
      .prepare('INSERT OR IGNORE INTO winners (ticket_hash, body, sender, face_value) VALUES (?, ?, ?, ?)')
      .run(hash, JSON.stringify(redemptionRequest(ticket, signature, recipientRand)), ticket.sender.toLowerCase(), ticket.faceValue.toString());
    return hash;
  }

  counts(): Record<string, number> {
    const rows = this.db.prepare('SELECT status, COUNT(*) AS n FROM winners GROUP BY status').all() as Array<{ status: string; n: number }>;
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  /** Face value of `sender`'s winners not yet settled: funds already promised to this recipient. */
  outstanding(sender: string): bigint {
    const rows = this.db.prepare("SELECT face_value FROM winners WHERE sender = ? AND status IN ('pending', 'sent')").all(sender.toLowerCase()) as Array<{ face_value: string }>;
    return rows.reduce((sum, r) => sum + BigInt(r.face_value), 0n);
  }

  /** One winner's record: status, reason of a refusal, what it paid and in which transaction. */
  winner(hash: string): { status: string; attempts: number; lastError: string | null; paid: bigint | null; txHash: string | null } | null {
    const r = this.db.prepare('SELECT status, attempts, last_error, paid, tx_hash FROM winners WHERE ticket_hash = ?').get(hash) as { status: string; attempts: number; last_error: string | null; paid: string | null; tx_hash: string | null } | undefined;
    return r ? { status: r.status, attempts: Number(r.attempts), lastError: r.last_error, paid: r.paid === null ? null : BigInt(r.paid), txHash: r.tx_hash } : null;
  }

  // ---- the journal (RedemptionJournal), written by the backend before each broadcast ------------

  sent(ticketHashes: readonly string[], tx: SentTransaction): SentBatch {
    return inTransaction(this.db, () => {
      const batchId = Number((this.db.prepare('SELECT COALESCE(MAX(batch_id), 0) + 1 AS id FROM (SELECT batch_id FROM transactions UNION ALL SELECT batch_id FROM winners WHERE batch_id IS NOT NULL)').get() as { id: number }).id);
      this.insertTransaction(batchId, tx);
      const mark = this.db.prepare("UPDATE winners SET status = 'sent', batch_id = ? WHERE ticket_hash = ?");
      for (const hash of ticketHashes) mark.run(batchId, hash);
      return this.batch(batchId)!;
    });
  }

  replaced(batchId: number, tx: SentTransaction): void {
    this.insertTransaction(batchId, tx);
  }

  private insertTransaction(batchId: number, tx: SentTransaction): void {
    this.db
      .prepare('INSERT OR IGNORE INTO transactions (hash, batch_id, raw, nonce, gas, max_fee, tip, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(tx.hash, batchId, tx.raw, tx.nonce, tx.gas.toString(), tx.maxFeePerGas.toString(), tx.maxPriorityFeePerGas.toString(), tx.sentAt);
  }

  private batch(id: number): SentBatch | null {
    const winners = (this.db.prepare("SELECT ticket_hash, body, attempts, batch_id FROM winners WHERE batch_id = ? AND status = 'sent' ORDER BY rowid").all(id) as unknown as WinnerRow[]).map(winnerOf);
    if (winners.length === 0) return null;
    const transactions = (this.db.prepare('SELECT * FROM transactions WHERE batch_id = ? ORDER BY sent_at, rowid').all(id) as unknown as TransactionRow[]).map(
      (t): SentTransaction => ({ hash: t.hash, raw: t.raw, nonce: Number(t.nonce), gas: BigInt(t.gas), maxFeePerGas: BigInt(t.max_fee), maxPriorityFeePerGas: BigInt(t.tip), sentAt: Number(t.sent_at) }),
    );
    return { id, winners, transactions };
  }

  /** The batches in flight, oldest first. */
  batches(): SentBatch[] {
    return this.sentBatches();
  }

  private sentBatches(): SentBatch[] {
    const ids = this.db.prepare("SELECT DISTINCT batch_id FROM winners WHERE status = 'sent' ORDER BY batch_id").all() as Array<{ batch_id: number }>;
    return ids.map((r) => this.batch(Number(r.batch_id))).filter((b): b is SentBatch => b !== null);
  }

  private apply(outcomes: readonly RedemptionOutcome[]): RedemptionResult[] {
    const results: RedemptionResult[] = [];
    for (const o of outcomes) {
      if (o.outcome === 'redeemed') {
        this.db.prepare("UPDATE winners SET status = 'redeemed', batch_id = NULL, paid = ?, tx_hash = ?, last_error = NULL WHERE ticket_hash = ?").run(o.paid.toString(), o.txHash ?? null, o.ticketHash);
        results.push({ ticketHash: o.ticketHash, outcome: 'redeemed', paid: o.paid, ...(o.txHash ? { txHash: o.txHash } : {}) });
      } else if (o.outcome === 'failed') {
        // The settlement has decided (the chain's revert reason, or the ledger's code): retrying cannot help.
        this.db.prepare("UPDATE winners SET status = 'failed', batch_id = NULL, last_error = ? WHERE ticket_hash = ?").run(o.error, o.ticketHash);
        results.push({ ticketHash: o.ticketHash, outcome: 'failed', error: o.error });
      } else {
        const row = this.db.prepare('SELECT attempts FROM winners WHERE ticket_hash = ?').get(o.ticketHash) as { attempts: number } | undefined;
        const backoffMs = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, Number(row?.attempts ?? 1) - 1));
        this.db.prepare("UPDATE winners SET status = 'pending', batch_id = NULL, next_attempt_at = ?, last_error = ? WHERE ticket_hash = ?").run(this.now() + backoffMs, o.error, o.ticketHash);
        results.push({ ticketHash: o.ticketHash, outcome: 'retry', error: o.error });
      }
    }
    return results;
  }

  /**
   * One round: settles the batches in flight (asking what became of them), then submits due winners in
   * batches while nothing is left in flight. Returns what happened to each ticket that moved.
   */
  async drain(backend: RedemptionBackend): Promise<RedemptionResult[]> {
    const results: RedemptionResult[] = [];
    for (const batch of this.sentBatches()) {
      if (this.closed) return results;
      results.push(...this.apply(await backend.settle(batch, this)));
    }
    for (let i = 0; i < MAX_SUBMISSIONS_PER_DRAIN && !this.closed; i++) {
      // One batch in flight at a time: nonces stay in order, and a stuck one is replaced, not raced.
      if (this.sentBatches().length > 0) break;
      const due = this.db.prepare("SELECT ticket_hash, body, attempts, batch_id FROM winners WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY rowid LIMIT ?").all(this.now(), backend.maxBatch) as unknown as WinnerRow[];
      if (due.length === 0) break;
      for (const row of due) this.db.prepare('UPDATE winners SET attempts = attempts + 1 WHERE ticket_hash = ? AND batch_id IS NULL').run(row.ticket_hash);
      const outcomes = await backend.submit(due.map(winnerOf), this);
      results.push(...this.apply(outcomes));
      if (outcomes.some((o) => o.outcome === 'retry')) break;
    }
    return results;
  }

  /** Redeems in the background every intervalMs until closed. */
  start(backend: RedemptionBackend, intervalMs: number, onResults: (results: RedemptionResult[]) => void, onError: (err: unknown) => void = () => {}): void {
    const tick = () => {
      this.running = this.drain(backend)
        .then(onResults, onError)
        .finally(() => {
          this.running = null;
          if (!this.closed) {
            this.timer = setTimeout(tick, intervalMs);
            this.timer.unref();
          }
        });
    };
    tick();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    this.db.close();
  }
}
