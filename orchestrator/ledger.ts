// The embedded ticket ledger (node:sqlite in the data directory): each sender's deposit and reserve, each
// recipient's earnings, and redemption of winning tickets exactly once. A redemption checks the signature,
// the revealed recipientRand and the win, then moves the face value from the sender's deposit (from the
// recipient's allocation of the reserve when the deposit runs short: settlement/reserve-rule.ts, the same
// rule as the on-chain TicketBroker) to the recipient in one IMMEDIATE transaction; the ticket hash is
// the primary key of the redemptions table, so two racing redemptions of one ticket cannot both succeed,
// even from two processes. A withdrawal (signed by the account's owner, protocol/withdrawal.ts) moves
// earnings out: it is recorded in the withdrawals table, keyed by (address, timestamp) so a replay cannot
// land twice, in the same transaction as the balance change. Emits `funded`, `redeemed` and `withdrawn`
// after each committed change; logs and metrics listen.

import { EventEmitter } from 'node:events';
import type { DatabaseSync } from 'node:sqlite';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { CastnetError } from '../protocol/errors.ts';
import { addMissingColumns, inTransaction, openDatabase } from '../storage/sqlite.ts';
import { DEFAULT_RESERVE_RECIPIENTS, claimableReserve, payout } from '../settlement/reserve-rule.ts';
import { MAX_WIN_PROB, isWinningTicket, recoverSigner, ticketHash, toHex, type Ticket } from '../protocol/ticket.ts';
import { WITHDRAWAL_MAX_SKEW_MS, withdrawalHash, type Withdrawal } from '../protocol/withdrawal.ts';

export interface Account {
  address: string;
  deposit: bigint;
  reserve: bigint;
  /** Reserve paid out of this address's reserve to recipients (reserve + reserveClaimed: all it funded). */
  reserveClaimed: bigint;
  /** Face value redeemed by this address as a recipient. */
  earned: bigint;
  /** Face value paid out of this address's deposit and reserve. */
  spent: bigint;
  /** Earnings moved out of the ledger; what is left to withdraw is earned − withdrawn. */
  withdrawn: bigint;
}

export interface Redemption {
  ticketHash: string;
  paid: bigint;
  fromReserve: bigint;
}

interface AccountRow {
  address: string;
  deposit: string;
  reserve: string;
  reserve_claimed: string;
  earned: string;
  spent: string;
  withdrawn: string;
}

const toAccount = (r: AccountRow): Account => ({ address: r.address, deposit: BigInt(r.deposit), reserve: BigInt(r.reserve), reserveClaimed: BigInt(r.reserve_claimed), earned: BigInt(r.earned), spent: BigInt(r.spent), withdrawn: BigInt(r.withdrawn) });

export interface LedgerOptions {
  /** The clock withdrawal timestamps are checked against. */
  now?: () => number;
  /** Allocations each sender's reserve is split into, one per recipient (settlement/reserve-rule.ts). */
  reserveRecipients?: bigint;
}

export interface LedgerEvents {
  /** A deposit committed: the account after it, and what was added. */
  funded: [Account, { deposit: bigint; reserve: bigint }];
  /** A winning ticket redeemed. */
  redeemed: [Redemption, { sender: string; recipient: string }];
  /** A withdrawal committed: what moved, and the account after it. */
  withdrawn: [Withdrawal, Account];
}

export class Ledger extends EventEmitter<LedgerEvents> {
  private readonly db: DatabaseSync;
  private readonly now: () => number;
  readonly reserveRecipients: bigint;
  closed = false;

  constructor(path: string, options: LedgerOptions = {}) {
    super();
    this.now = options.now ?? Date.now;
    this.reserveRecipients = options.reserveRecipients ?? DEFAULT_RESERVE_RECIPIENTS;
    if (this.reserveRecipients < 1n) throw new RangeError('reserveRecipients must be at least 1');
    this.db = openDatabase(
      path,
      `
      CREATE TABLE IF NOT EXISTS accounts (
        address TEXT PRIMARY KEY,
        deposit TEXT NOT NULL DEFAULT '0',
        reserve TEXT NOT NULL DEFAULT '0',
        reserve_claimed TEXT NOT NULL DEFAULT '0',
        earned TEXT NOT NULL DEFAULT '0',
        spent TEXT NOT NULL DEFAULT '0',
        withdrawn TEXT NOT NULL DEFAULT '0'
      );
      CREATE TABLE IF NOT EXISTS redemptions (
        ticket_hash TEXT PRIMARY KEY,
        sender TEXT NOT NULL,
        recipient TEXT NOT NULL,
        face_value TEXT NOT NULL,
        paid TEXT NOT NULL,
        from_reserve TEXT NOT NULL,
        redeemed_at TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS reserve_claims (
        sender TEXT NOT NULL,
        recipient TEXT NOT NULL,
        claimed TEXT NOT NULL,
        PRIMARY KEY (sender, recipient)
      );
      CREATE TABLE IF NOT EXISTS withdrawals (
        address TEXT NOT NULL,
        timestamp INTEGER NOT NULL,
        amount TEXT NOT NULL,
        recipient TEXT NOT NULL,
        withdrawn_at TEXT NOT NULL,
        PRIMARY KEY (address, timestamp)
      );`,
    );
    // Ledgers written before withdrawals and reserve allocations existed gain the columns.
    addMissingColumns(this.db, 'accounts', [['withdrawn', "TEXT NOT NULL DEFAULT '0'"], ['reserve_claimed', "TEXT NOT NULL DEFAULT '0'"]]);
  }

  private row(address: string): Account {
    const r = this.db.prepare('SELECT * FROM accounts WHERE address = ?').get(address) as AccountRow | undefined;
    return r ? toAccount(r) : { address, deposit: 0n, reserve: 0n, reserveClaimed: 0n, earned: 0n, spent: 0n, withdrawn: 0n };
  }

  private save(a: Account): void {
    this.db
      .prepare(
        'INSERT INTO accounts (address, deposit, reserve, reserve_claimed, earned, spent, withdrawn) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(address) DO UPDATE SET deposit = excluded.deposit, reserve = excluded.reserve, reserve_claimed = excluded.reserve_claimed, earned = excluded.earned, spent = excluded.spent, withdrawn = excluded.withdrawn',
      )
      .run(a.address, a.deposit.toString(), a.reserve.toString(), a.reserveClaimed.toString(), a.earned.toString(), a.spent.toString(), a.withdrawn.toString());
  }

  private claimedBy(sender: string, recipient: string): bigint {
    const r = this.db.prepare('SELECT claimed FROM reserve_claims WHERE sender = ? AND recipient = ?').get(sender, recipient) as { claimed: string } | undefined;
    return r ? BigInt(r.claimed) : 0n;
  }

  /** What `recipient` may still be paid from `sender`'s reserve: its allocation less what it took. */
  claimableReserve(sender: string, recipient: string): bigint {
    const s = this.row(sender.toLowerCase());
    return claimableReserve(s, this.claimedBy(s.address, recipient.toLowerCase()), this.reserveRecipients);
  }

  /** The most one winning ticket from `sender` pays `recipient` now: the deposit and its reserve allocation. */
  payableTo(sender: string, recipient: string): bigint {
    return this.account(sender).deposit + this.claimableReserve(sender, recipient);
  }

  private transaction<T>(work: () => T): T {
    return inTransaction(this.db, work);
  }

  account(address: string): Account {
    return this.row(address.toLowerCase());
  }

  accounts(): Account[] {
    return (this.db.prepare('SELECT * FROM accounts ORDER BY address').all() as unknown as AccountRow[]).map(toAccount);
  }

  fund(address: string, deposit: bigint, reserve = 0n): Account {
    if (deposit < 0n || reserve < 0n) throw new CastnetError('BAD_REQUEST', 'amounts must not be negative');
    const account = this.transaction(() => {
      const a = this.row(address.toLowerCase());
      // Balances are uint256, as an on-chain broker's are: a deposit that would pass that is refused whole.
      if (a.deposit + deposit > MAX_WIN_PROB || a.reserve + reserve > MAX_WIN_PROB) throw new CastnetError('BAD_REQUEST', 'the deposit would take the balance past 2^256 − 1 wei', { address: a.address, reason: 'exceeds_uint256' });
      a.deposit += deposit;
      a.reserve += reserve;
      this.save(a);
      return a;
    });
    this.emit('funded', account, { deposit, reserve });
    return account;
  }

  redeem(ticket: Ticket, signature: Uint8Array, recipientRand: Uint8Array): Redemption {
    const hash = ticketHash(ticket);
    const hashHex = toHex(hash);
    const context = { ticketHash: hashHex, sender: ticket.sender, recipient: ticket.recipient };
    if (recoverSigner(hash, signature) !== ticket.sender.toLowerCase()) throw new CastnetError('TICKET_INVALID', 'signature does not recover to the sender', context);
    if (toHex(keccak_256(recipientRand)) !== ticket.recipientRandHash.toLowerCase()) throw new CastnetError('TICKET_INVALID', 'recipientRand does not match recipientRandHash', context);
    if (!isWinningTicket(signature, recipientRand, ticket.winProb)) throw new CastnetError('TICKET_INVALID', 'ticket did not win', context);
    const redemption = this.transaction(() => {
      // The hash binds the recipient, so an earlier redemption paid this same recipient: say how much, so a
      // recipient that crashed between our commit and its own record can settle the ticket as paid.
      const earlier = this.db.prepare('SELECT paid FROM redemptions WHERE ticket_hash = ?').get(hashHex) as { paid: string } | undefined;
      if (earlier) throw new CastnetError('ALREADY_REDEEMED', 'ticket was already redeemed', { ...context, reason: 'paid_earlier', paid: earlier.paid });
      const sender = this.row(ticket.sender.toLowerCase());
      const recipientAddress = ticket.recipient.toLowerCase();
      const claimedBefore = this.claimedBy(sender.address, recipientAddress);
      const { fromDeposit, fromReserve, paid } = payout(ticket.faceValue, sender.deposit, claimableReserve(sender, claimedBefore, this.reserveRecipients));
      // Nothing to pay: the ticket stays unredeemed, so it can be redeemed after the sender tops up.
      if (paid === 0n) throw new CastnetError('INSUFFICIENT_FUNDS', 'sender cannot pay this recipient: deposit empty and reserve allocation claimed', context);
      sender.deposit -= fromDeposit;
      sender.reserve -= fromReserve;
      sender.reserveClaimed += fromReserve;
      sender.spent += paid;
      this.save(sender);
      if (fromReserve > 0n) {
        this.db
          .prepare('INSERT INTO reserve_claims (sender, recipient, claimed) VALUES (?, ?, ?) ON CONFLICT(sender, recipient) DO UPDATE SET claimed = excluded.claimed')
          .run(sender.address, recipientAddress, (claimedBefore + fromReserve).toString());
      }
      const recipient = this.row(ticket.recipient.toLowerCase());
      recipient.earned += paid;
      this.save(recipient);
      this.db
        .prepare('INSERT INTO redemptions (ticket_hash, sender, recipient, face_value, paid, from_reserve, redeemed_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(hashHex, ticket.sender.toLowerCase(), ticket.recipient.toLowerCase(), ticket.faceValue.toString(), paid.toString(), fromReserve.toString(), new Date().toISOString());
      return { ticketHash: hashHex, paid, fromReserve };
    });
    this.emit('redeemed', redemption, { sender: ticket.sender, recipient: ticket.recipient });
    return redemption;
  }

  /**
   * Moves `amount` of the owner's earnings out, to `to`. Refused (balances untouched) when the signature is not
   * the owner's, the timestamp is more than WITHDRAWAL_MAX_SKEW_MS from this ledger's clock, the owner already
   * used that timestamp (a replay), or the amount exceeds what is left to withdraw.
   */
  withdraw(w: Withdrawal, signature: Uint8Array): Account {
    const address = w.address.toLowerCase();
    const context = { address, timestamp: w.timestamp };
    if (recoverSigner(withdrawalHash(w), signature) !== address) throw new CastnetError('SIGNATURE_INVALID', "the withdrawal is not signed by the account's key", { ...context, reason: 'bad_signature' });
    const skew = Math.abs(this.now() - w.timestamp);
    if (skew > WITHDRAWAL_MAX_SKEW_MS) {
      throw new CastnetError('SIGNATURE_INVALID', `the withdrawal's timestamp is ${Math.round(skew / 1000)} s from the ledger's clock (at most ${WITHDRAWAL_MAX_SKEW_MS / 1000} s): sign it again, and check the clock`, { ...context, reason: 'stale_timestamp' });
    }
    if (w.amount <= 0n) throw new CastnetError('BAD_REQUEST', 'a withdrawal moves a positive amount', { ...context, reason: 'zero_amount' });
    const account = this.transaction(() => {
      if (this.db.prepare('SELECT 1 FROM withdrawals WHERE address = ? AND timestamp = ?').get(address, w.timestamp)) {
        throw new CastnetError('ALREADY_REDEEMED', 'this withdrawal was already made (replayed request)', { ...context, reason: 'replay' });
      }
      const a = this.row(address);
      const withdrawable = a.earned - a.withdrawn;
      if (w.amount > withdrawable) throw new CastnetError('INSUFFICIENT_FUNDS', `the withdrawal of ${w.amount} wei exceeds the ${withdrawable} wei earned and not yet withdrawn`, { ...context, reason: 'exceeds_earnings', withdrawable: withdrawable.toString() });
      a.withdrawn += w.amount;
      this.save(a);
      this.db.prepare('INSERT INTO withdrawals (address, timestamp, amount, recipient, withdrawn_at) VALUES (?, ?, ?, ?, ?)').run(address, w.timestamp, w.amount.toString(), w.to.toLowerCase(), new Date(this.now()).toISOString());
      return a;
    });
    this.emit('withdrawn', { ...w, address, to: w.to.toLowerCase() }, account);
    return account;
  }

  /** The withdrawals made from an address, oldest first. */
  withdrawals(address: string): Array<Withdrawal & { withdrawnAt: string }> {
    const rows = this.db.prepare('SELECT * FROM withdrawals WHERE address = ? ORDER BY timestamp').all(address.toLowerCase()) as Array<{ address: string; timestamp: number; amount: string; recipient: string; withdrawn_at: string }>;
    return rows.map((r) => ({ address: r.address, timestamp: Number(r.timestamp), amount: BigInt(r.amount), to: r.recipient, withdrawnAt: r.withdrawn_at }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
