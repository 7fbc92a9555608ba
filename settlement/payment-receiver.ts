// The transcoder's side of payments: issues ticket parameters to senders, and checks each segment's payment
// before any CPU is spent on it — recipient, parameters (recomputed HMAC), expiry (on chain also the
// creation block's age), revealed parameters, signatures, nonce replays and the sender's funds at the
// settlement less the winners it has not redeemed yet (verify, before the segment is parsed), then expected
// value against the price (redeem, once the segment is probed and a slot is held). Winning tickets go to
// the redemption queue. Hot path: runs once per segment.

import { CastnetError } from '../protocol/errors.ts';
import type { Identity } from '../protocol/identity.ts';
import { paymentRequired, ticketOf, type Payment } from '../protocol/payment.ts';
import { TicketParamsIssuer, type TicketParams } from '../protocol/ticket-params.ts';
import { MAX_WIN_PROB, isSignedBy, isWinningTicket, scaledExpectedValue, ticketHash, type Ticket } from '../protocol/ticket.ts';
import type { RedemptionQueue } from './redemption-queue.ts';

export interface PaymentTerms {
  pricePerPixel: bigint;
  faceValue: bigint;
  /** Expected value of one ticket, in wei; winProb = ticketEv / faceValue. */
  ticketEv: bigint;
  ticketTtlMs: number;
}

/** The most one winning ticket from `sender` pays this recipient (deposit + its reserve allocation); throws when it cannot be learned. */
export type FundsLookup = (sender: string) => Promise<bigint>;

/** The chain's clock, when tickets settle on chain: they are bound to a recent block and expire with it. */
export interface ChainTime {
  /** The latest block, or null when it is not known (the chain cannot be reached). */
  latest(): { number: bigint; hash: string } | null;
  /** Milliseconds per block as observed, or null when not known. */
  msPerBlock(): number | null;
  /** Blocks after its creation block that the broker still redeems a ticket (TicketBroker.ticketValidityBlocks). */
  validityBlocks: bigint;
}

export interface AcceptedPayment {
  tickets: number;
  winners: number;
  /** Expected value received, in wei (rounded down). */
  expectedValue: bigint;
}

/** A payment that passed every check but the price, not yet spent (PaymentReceiver.verify). */
export interface VerifiedPayment {
  readonly payment: Payment;
  readonly recipientRand: Uint8Array;
  readonly tickets: ReadonlyArray<{ ticket: Ticket; signature: Uint8Array }>;
  /** Expected value of all its tickets × MAX_WIN_PROB. */
  readonly scaledValue: bigint;
}

interface NonceWindow {
  expiresAt: number;
  nonces: Set<number>;
}

export class PaymentReceiver {
  private readonly issuer: TicketParamsIssuer;
  private readonly seen = new Map<string, NonceWindow>();
  /** recipientRandHashes whose recipientRand is (or will be) revealed by a redemption. */
  private readonly revealed = new Set<string>();
  private readonly terms: PaymentTerms;
  private readonly funds: FundsLookup;
  private readonly queue: RedemptionQueue;
  private readonly now: () => number;
  private readonly chain: ChainTime | null;

  constructor(options: { identity: Identity; terms: PaymentTerms; funds: FundsLookup; queue: RedemptionQueue; now?: () => number; secret?: Uint8Array; chain?: ChainTime | null }) {
    this.issuer = new TicketParamsIssuer(options.identity.address, options.secret);
    this.terms = options.terms;
    this.funds = options.funds;
    this.queue = options.queue;
    this.now = options.now ?? Date.now;
    this.chain = options.chain ?? null;
  }

  /**
   * Tickets are taken while their creation block is at most half the broker's validity window old: the
   * other half is left for the redemption to be mined and confirmed before the broker calls them expired.
   */
  private get acceptBlocks(): bigint {
    return this.chain ? this.chain.validityBlocks / 2n : 0n;
  }

  get recipient(): string {
    return this.issuer.recipient;
  }

  get pricePerPixel(): bigint {
    return this.terms.pricePerPixel;
  }

  ticketParams(sender: string): TicketParams {
    // Rounded up, so a ticket is worth at least ticketEv and the sender's ticket count comes out whole.
    const winProb = this.terms.ticketEv >= this.terms.faceValue ? MAX_WIN_PROB : (this.terms.ticketEv * MAX_WIN_PROB + this.terms.faceValue - 1n) / this.terms.faceValue;
    let ttlMs = this.terms.ticketTtlMs;
    let creation: { round: bigint; blockHash: string } | undefined;
    if (this.chain) {
      const latest = this.chain.latest();
      if (!latest) throw new CastnetError('UNAVAILABLE', "the chain's latest block is not known: ticket parameters cannot be bound to it");
      creation = { round: latest.number, blockHash: latest.hash };
      // Offered no longer than the block window tickets are taken in, when the pace of blocks is known.
      const msPerBlock = this.chain.msPerBlock();
      if (msPerBlock !== null) ttlMs = Math.max(1_000, Math.min(ttlMs, Math.floor(Number(this.acceptBlocks) * msPerBlock)));
    }
    return this.issuer.issue(sender.toLowerCase(), { faceValue: this.terms.faceValue, winProb, pricePerPixel: this.terms.pricePerPixel, ttlMs, now: this.now(), ...(creation ? { creation } : {}) });
  }

  private prune(now: number): void {
    for (const [hash, w] of this.seen) if (w.expiresAt < now) this.seen.delete(hash);
  }

  /** Accepts the payment for work priced at `priceWei`, or throws PAYMENT_REQUIRED with the reason. */
  async accept(payment: Payment, priceWei: bigint): Promise<AcceptedPayment> {
    return this.redeem(await this.verify(payment), priceWei);
  }

  /**
   * Every check that needs neither the segment nor a change of state: recipient, parameters, expiry,
   * revealed parameters, nonce replays, signatures and the sender's funds. Runs before the segment is
   * parsed or a slot is taken; nothing is spent, so a refused or abandoned request can pay again.
   */
  async verify(payment: Payment): Promise<VerifiedPayment> {
    const p = payment.ticketParams;
    const now = this.now();
    if (p.recipient !== this.recipient) throw paymentRequired('wrong_recipient', `tickets are for ${p.recipient}, this transcoder is ${this.recipient}`);
    const recipientRand = this.issuer.verify(p, payment.sender);
    if (!recipientRand) throw paymentRequired('invalid_params', 'ticket parameters were not issued by this transcoder to this sender (or were changed): fetch new ones');
    if (p.expiresAt < now) throw paymentRequired('expired', 'ticket parameters expired: fetch new ones');
    // On chain the creation block expires them too (the broker's rule, with half its window kept for redemption).
    if (this.chain) {
      if (p.creationRound === 0n) throw paymentRequired('invalid_params', 'tickets settle on chain and must be bound to a block: fetch new parameters');
      const latest = this.chain.latest();
      if (!latest) throw paymentRequired('funds_unknown', "the chain's latest block is not known: tickets cannot be checked for expiry");
      const age = latest.number - p.creationRound;
      if (age > this.acceptBlocks) throw paymentRequired('expired', `ticket parameters are bound to block ${p.creationRound}, ${age} blocks old (at most ${this.acceptBlocks}): fetch new ones`);
    }
    if (this.revealed.has(p.recipientRandHash)) throw paymentRequired('params_revealed', 'these parameters already produced a winning ticket: fetch new ones');
    if (p.pricePerPixel < this.terms.pricePerPixel) throw paymentRequired('invalid_params', 'ticket parameters carry an old price: fetch new ones');
    this.assertFreshNonces(payment);
    const tickets = payment.tickets.map((t) => ({ ticket: ticketOf(payment, t.senderNonce), signature: t.signature }));
    for (const t of tickets) {
      if (!isSignedBy(ticketHash(t.ticket), t.signature, payment.sender)) throw paymentRequired('bad_signature', `ticket with nonce ${t.ticket.senderNonce} is not signed by ${payment.sender}`);
    }
    let funds: bigint;
    try {
      funds = await this.funds(payment.sender);
    } catch (err) {
      throw paymentRequired('funds_unknown', `the sender's funds cannot be learned: ${(err as Error).message}`);
    }
    // Winners already queued for this sender will take their share first.
    const outstanding = this.queue.outstanding(payment.sender);
    if (funds - outstanding < p.faceValue) {
      throw paymentRequired('insufficient_deposit', `what the sender can pay this transcoder (${funds} wei of deposit and reserve allocation${outstanding > 0n ? `, less ${outstanding} wei of winners not yet redeemed` : ''}) cannot cover the face value ${p.faceValue}`);
    }
    return { payment, recipientRand, tickets, scaledValue: scaledExpectedValue(p.faceValue, p.winProb) * BigInt(tickets.length) };
  }

  /**
   * Takes a verified payment for work priced at `priceWei`: its nonces are spent and its winners queued.
   * Synchronous, so nothing runs between the replay check (repeated: another request may have spent the
   * same nonces since verify) and the spending.
   */
  redeem(verified: VerifiedPayment, priceWei: bigint): AcceptedPayment {
    const { payment, recipientRand, tickets, scaledValue } = verified;
    const p = payment.ticketParams;
    if (scaledValue < priceWei * MAX_WIN_PROB) {
      throw paymentRequired('insufficient_value', `tickets are worth ${scaledValue / MAX_WIN_PROB} wei in expectation; this segment costs ${priceWei}`, { price: priceWei.toString() });
    }
    this.assertFreshNonces(payment);

    // Accepted: the nonces are spent, and winners are persisted before the work starts.
    this.prune(this.now());
    const window = this.seen.get(p.recipientRandHash) ?? { expiresAt: p.expiresAt, nonces: new Set<number>() };
    for (const t of payment.tickets) window.nonces.add(t.senderNonce);
    this.seen.set(p.recipientRandHash, window);
    let winners = 0;
    for (const t of tickets) {
      if (isWinningTicket(t.signature, recipientRand, p.winProb)) {
        this.queue.add(t.ticket, t.signature, recipientRand);
        winners++;
      }
    }
    // Redeeming reveals recipientRand, after which a sender could tell winners from losers in advance.
    if (winners > 0) this.revealed.add(p.recipientRandHash);
    return { tickets: tickets.length, winners, expectedValue: scaledValue / MAX_WIN_PROB };
  }

  private assertFreshNonces(payment: Payment): void {
    const used = this.seen.get(payment.ticketParams.recipientRandHash)?.nonces;
    const batch = new Set<number>();
    for (const t of payment.tickets) {
      if (used?.has(t.senderNonce) || batch.has(t.senderNonce)) throw paymentRequired('replayed_nonce', `nonce ${t.senderNonce} was already used with these parameters`);
      batch.add(t.senderNonce);
    }
  }
}
