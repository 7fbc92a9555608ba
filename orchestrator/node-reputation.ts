// What the orchestrator remembers about node keys across restarts (node:sqlite, `nodes.sqlite` in the data
// directory): the operator's admission lists (allow, deny) under `--admission open|allowlist`, and each
// node's reputation. A counted failure report adds its reason's weight in penalty points; points halve every
// `halfLifeMs`; a node's score is 1 − points / banPoints (floored at 0), and reaching banPoints bans it for
// `banMs`. Bans and lists are written through at once, so a restart keeps them.

import { EventEmitter } from 'node:events';
import type { DatabaseSync } from 'node:sqlite';
import { openDatabase } from '../storage/sqlite.ts';

export type AdmissionMode = 'open' | 'allowlist';
export type AdmissionList = 'allow' | 'deny';

/**
 * Penalty points per failure reason (the `reason` of a failure report, protocol/failure-report.ts). Output
 * that fails verification weighs most: it is the one failure a node cannot have by bad luck. Reasons not
 * listed weigh DEFAULT_FAILURE_WEIGHT.
 */
export const FAILURE_WEIGHTS: Readonly<Record<string, number>> = {
  unreachable: 1,
  transcoder_error: 1,
  publish_failed: 1,
  // The broadcaster's parameters may be stale through no fault of the node.
  payment_refused: 0.5,
  bad_output: 2,
  verification_failed: 3,
};
export const DEFAULT_FAILURE_WEIGHT = 1;

export interface ReputationOptions {
  /** `nodes.sqlite` in the data directory, or `:memory:`. */
  path: string;
  admission: AdmissionMode;
  /** Points at which a node is banned (its score reaches 0). */
  banPoints?: number;
  /** How long a ban lasts. */
  banMs?: number;
  /** Points halve this often, so old failures fade. */
  halfLifeMs?: number;
  now?: () => number;
}

export interface NodeReputationEvents {
  banned: [{ address: string; until: number; reason: string }];
  /** The operator changed a key's admission (allowed, denied, cleared). */
  admissionChanged: [{ address: string; list: AdmissionList | null }];
}

interface Standing {
  points: number;
  updatedAt: number;
  bannedUntil: number;
  banReason: string | null;
  bans: number;
}

export interface BanEntry {
  address: string;
  until: string;
  reason: string;
  bans: number;
}

export class NodeReputation extends EventEmitter<NodeReputationEvents> {
  readonly mode: AdmissionMode;
  private readonly db: DatabaseSync;
  private readonly lists = new Map<string, { list: AdmissionList; at: string }>();
  private readonly standings = new Map<string, Standing>();
  private readonly banPoints: number;
  private readonly banMs: number;
  private readonly halfLifeMs: number;
  private readonly now: () => number;

  constructor(options: ReputationOptions) {
    super();
    this.mode = options.admission;
    this.banPoints = options.banPoints ?? 10;
    this.banMs = options.banMs ?? 3_600_000;
    this.halfLifeMs = options.halfLifeMs ?? 600_000;
    this.now = options.now ?? Date.now;
    this.db = openDatabase(
      options.path,
      `
      CREATE TABLE IF NOT EXISTS admission (
        address TEXT PRIMARY KEY,
        list TEXT NOT NULL CHECK (list IN ('allow', 'deny')),
        changed_at TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS reputation (
        address TEXT PRIMARY KEY,
        points REAL NOT NULL,
        updated_at INTEGER NOT NULL,
        banned_until INTEGER NOT NULL DEFAULT 0,
        ban_reason TEXT,
        bans INTEGER NOT NULL DEFAULT 0
      );`,
    );
    for (const r of this.db.prepare('SELECT address, list, changed_at FROM admission').all() as Array<{ address: string; list: AdmissionList; changed_at: string }>) {
      this.lists.set(r.address, { list: r.list, at: r.changed_at });
    }
    const rows = this.db.prepare('SELECT * FROM reputation').all() as Array<{ address: string; points: number; updated_at: number; banned_until: number; ban_reason: string | null; bans: number }>;
    for (const r of rows) this.standings.set(r.address, { points: r.points, updatedAt: Number(r.updated_at), bannedUntil: Number(r.banned_until), banReason: r.ban_reason, bans: Number(r.bans) });
  }

  /** Why `address` may not register or heartbeat now, or null: denied, not on the allowlist, banned. */
  refusal(address: string): { reason: string; message: string } | null {
    const key = address.toLowerCase();
    const listed = this.lists.get(key)?.list;
    if (listed === 'deny') return { reason: 'denied', message: `node ${key} is denied by the operator` };
    if (this.mode === 'allowlist' && listed !== 'allow') return { reason: 'not_allowed', message: `this orchestrator admits only allowed nodes (--admission allowlist): ask its operator to run castnet nodes allow ${key}` };
    const s = this.standings.get(key);
    if (s && s.bannedUntil > this.now()) return { reason: 'banned', message: `node ${key} is banned until ${new Date(s.bannedUntil).toISOString()} (${s.banReason ?? 'repeated failures'})` };
    return null;
  }

  /** Points now, decayed since they were last written. */
  private points(s: Standing | undefined, now: number): number {
    if (!s) return 0;
    return s.points * 2 ** (-(now - s.updatedAt) / this.halfLifeMs);
  }

  /** 1 for a node with no recent failures, down to 0 at the ban threshold. */
  score(address: string): number {
    const points = this.points(this.standings.get(address.toLowerCase()), this.now());
    return Math.max(0, Math.round((1 - points / this.banPoints) * 1_000) / 1_000);
  }

  bannedUntil(address: string): number | null {
    const s = this.standings.get(address.toLowerCase());
    return s && s.bannedUntil > this.now() ? s.bannedUntil : null;
  }

  /** Counts one failure of `address` for `reason`; bans it when its points reach the threshold. Returns the score after. */
  report(address: string, reason: string): number {
    const key = address.toLowerCase();
    const now = this.now();
    const s = this.standings.get(key) ?? { points: 0, updatedAt: now, bannedUntil: 0, banReason: null, bans: 0 };
    s.points = this.points(s, now) + (FAILURE_WEIGHTS[reason] ?? DEFAULT_FAILURE_WEIGHT);
    s.updatedAt = now;
    let banned = false;
    // Within a thousandth: points decay continuously, so reports made in one burst land just under a whole number.
    if (s.points + 1e-3 >= this.banPoints && s.bannedUntil <= now) {
      s.bannedUntil = now + this.banMs;
      s.banReason = `repeated failures (last: ${reason})`;
      s.bans++;
      // Served in full: a ban does not end with points still past the threshold.
      s.points = 0;
      banned = true;
    }
    this.standings.set(key, s);
    this.save(key, s);
    if (banned) this.emit('banned', { address: key, until: s.bannedUntil, reason: s.banReason! });
    return this.score(key);
  }

  private save(address: string, s: Standing): void {
    this.db
      .prepare('INSERT INTO reputation (address, points, updated_at, banned_until, ban_reason, bans) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(address) DO UPDATE SET points = excluded.points, updated_at = excluded.updated_at, banned_until = excluded.banned_until, ban_reason = excluded.ban_reason, bans = excluded.bans')
      .run(address, s.points, s.updatedAt, s.bannedUntil, s.banReason, s.bans);
  }

  /** Puts `address` on a list (allow lifts a ban and clears its points), or off both with null. */
  setAdmission(address: string, list: AdmissionList | null): void {
    const key = address.toLowerCase();
    const at = new Date(this.now()).toISOString();
    if (list === null) {
      this.lists.delete(key);
      this.db.prepare('DELETE FROM admission WHERE address = ?').run(key);
    } else {
      this.lists.set(key, { list, at });
      this.db.prepare('INSERT INTO admission (address, list, changed_at) VALUES (?, ?, ?) ON CONFLICT(address) DO UPDATE SET list = excluded.list, changed_at = excluded.changed_at').run(key, list, at);
    }
    if (list === 'allow') {
      const s = this.standings.get(key);
      if (s) {
        s.points = 0;
        s.bannedUntil = 0;
        s.updatedAt = this.now();
        this.save(key, s);
      }
    }
    this.emit('admissionChanged', { address: key, list });
  }

  admissionList(): Array<{ address: string; list: AdmissionList; changedAt: string }> {
    return [...this.lists].map(([address, e]) => ({ address, list: e.list, changedAt: e.at })).sort((a, b) => a.address.localeCompare(b.address));
  }

  bans(): BanEntry[] {
    const now = this.now();
    return [...this.standings]
      .filter(([, s]) => s.bannedUntil > now)
      .map(([address, s]) => ({ address, until: new Date(s.bannedUntil).toISOString(), reason: s.banReason ?? 'repeated failures', bans: s.bans }));
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
