// Winning tickets waiting to be redeemed, in node:sqlite in the data directory so a crash between winning
// and redeeming loses none, and a background loop that redeems them at the ledger with retries.

import type { DatabaseSync } from 'node:sqlite';
import { CastnetError } from '../protocol/errors.ts';
import { OrchestratorClient, type OrchestratorClientComponents } from '../protocol/orchestrator-client.ts';
import { redemptionRequest } from '../protocol/redemption.ts';
import { ticketHash, toHex, type Ticket } from '../protocol/ticket.ts';
import { openDatabase } from '../storage/sqlite.ts';

export interface RedemptionResult {
  ticketHash: string;
  outcome: 'redeemed' | 'failed' | 'retry';
  paid?: bigint;
  error?: string;
}

/** Sends one redemption to the ledger; throws CastnetError with the ledger's code on refusal. */
export type Redeemer = (body: ReturnType<typeof redemptionRequest>) => Promise<{ paid: bigint }>;

interface Row {
  ticket_hash: string;
  body: string;
  attempts: number;
}

const PERMANENT = new Set(['TICKET_INVALID', 'ALREADY_REDEEMED', 'INSUFFICIENT_FUNDS', 'BAD_REQUEST']);

export class RedemptionQueue {
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
      );`,
    );
  }

  /** Persists a winner before anything else happens to it. */
  add(ticket: Ticket, signature: Uint8Array, recipientRand: Uint8Array): string {
    const hash = toHex(ticketHash(ticket));
    this.db.prepare('INSERT OR IGNORE INTO winners (ticket_hash, body) VALUES (?, ?)').run(hash, JSON.stringify(redemptionRequest(ticket, signature, recipientRand)));
    return hash;
  }

  counts(): Record<string, number> {
    const rows = this.db.prepare('SELECT status, COUNT(*) AS n FROM winners GROUP BY status').all() as Array<{ status: string; n: number }>;
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  /** Redeems every due winner once; returns what happened to each. */
  async drain(redeem: Redeemer): Promise<RedemptionResult[]> {
    const due = this.db.prepare("SELECT ticket_hash, body, attempts FROM winners WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY rowid").all(this.now()) as unknown as Row[];
    const results: RedemptionResult[] = [];
    for (const row of due) {
      if (this.closed) break;
      try {
        const { paid } = await redeem(JSON.parse(row.body) as ReturnType<typeof redemptionRequest>);
        this.db.prepare("UPDATE winners SET status = 'redeemed', attempts = attempts + 1 WHERE ticket_hash = ?").run(row.ticket_hash);
        results.push({ ticketHash: row.ticket_hash, outcome: 'redeemed', paid });
      } catch (err) {
        const code = err instanceof CastnetError ? err.code : null;
        const message = (err as Error).message;
        if (code && PERMANENT.has(code)) {
          // The ledger has decided (e.g. already redeemed, or the sender is empty): retrying cannot help.
          this.db.prepare("UPDATE winners SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE ticket_hash = ?").run(`${code}: ${message}`, row.ticket_hash);
          results.push({ ticketHash: row.ticket_hash, outcome: 'failed', error: `${code}: ${message}` });
        } else {
          const backoffMs = Math.min(60_000, 1_000 * 2 ** row.attempts);
          this.db.prepare('UPDATE winners SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE ticket_hash = ?').run(this.now() + backoffMs, message, row.ticket_hash);
          results.push({ ticketHash: row.ticket_hash, outcome: 'retry', error: message });
        }
      }
    }
    return results;
  }

  /** Redeems in the background every intervalMs until closed. */
  start(redeem: Redeemer, intervalMs: number, onResults: (results: RedemptionResult[]) => void): void {
    const tick = () => {
      this.running = this.drain(redeem)
        .then(onResults)
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

/** Redemptions at the orchestrator's ledger; `orchestratorUrl` is read at each one (a node may learn it from gossip). */
export function ledgerRedeemer(orchestratorUrl: () => string | null, components: OrchestratorClientComponents = {}): Redeemer {
  return async (body) => {
    const base = orchestratorUrl();
    if (base === null) throw new CastnetError('UNAVAILABLE', 'no orchestrator known yet to redeem at');
    return { paid: (await new OrchestratorClient(base, components).redeem(body)).paid };
  };
}
