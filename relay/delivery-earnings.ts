// What a relay earns for delivery (issue 14). It keeps the newest receipt of every viewer session (and
// edge) per stream and every few seconds claims the new ones from the stream's payer (the directory names
// it), signed with its node key. A session's first receipt is checked in full before it is kept (both
// signatures, this relay's address, the stream's payer); later receipts of that session with the same
// certificate are checked only for what costs no signature recovery (address, stream, certificate fields,
// monotonic bytes) and kept as the session's one unverified receipt beside its last verified one: the
// payer checks every signature anyway, and recovering one per receipt here cost the relay 45 % of its
// segment throughput (bench/receipts). What the payer credits becomes the verified one; one it refuses as
// forged is dropped, and the verified one stands. A receipt with no more bytes than the unverified one
// held (a forgery with inflated bytes would block the session's honest receipts) makes the relay check
// the held one at once and drop it if forged, so a forgery delays a session's count by one receipt at most. The payer answers tickets on this relay's own ticket
// parameters; they pass the same PaymentReceiver checks as a transcoder's and winners go to the same
// redemption queue. A stream whose payer does not answer, refuses, or pays less than it credited is
// reported unpaid (metric and log), and with --refuse-unpaid its segments are refused with 402.
// As an edge, it signs receipts with its node key for what it pulls from each parent, so parents are paid
// too: each claim round signs one per parent and stream whose count moved, which rides on the next segment
// pulled from that parent (upstream.ts, the castnet-receipt parameter), or is POSTed when no pull took it
// by the next round or the parent did not answer it.

import { CastnetError } from '../protocol/errors.ts';
import type { Identity } from '../protocol/identity.ts';
import { decodePayment, type Payment } from '../protocol/payment.ts';
import { ticketParamsToJson } from '../protocol/ticket-params.ts';
import { signRequest } from '../protocol/signed-request.ts';
import { checkReceiptFields, checkReceiptSignatures, MAX_RECEIPTS_PER_CLAIM, parseReceiptAnswer, signReceipt, withReceiptParam, type SessionCertificate, type SignedReceipt } from '../protocol/delivery-receipt.ts';
import { claimAnswerSchema } from '../protocol/delivery-claim.ts';
import type { DeliveryTerms } from '../protocol/stream-record.ts';
import { readLimited } from '../protocol/read-limited.ts';
import { failureFromResponse } from '../protocol/http-failure.ts';
import type { Logger } from '../observability/logger.ts';
import type { PaymentReceiver } from '../settlement/payment-receiver.ts';

/** A stream's delivery terms from the directory; null when it pays no relay. */
export type DeliveryLookup = (playbackId: string) => Promise<DeliveryTerms | null>;

export interface DeliveryEarningsOptions {
  identity: Identity;
  pricePerByte: bigint;
  claimIntervalMs: number;
  /** Refuse segments of streams whose payer stopped paying. */
  refuseUnpaid: boolean;
  lookup: DeliveryLookup;
  payments: PaymentReceiver;
  fetch: typeof globalThis.fetch;
  logger: Logger;
  now?: () => number;
  events?: DeliveryEvents;
}

/** What metrics listen to. */
export interface DeliveryEvents {
  receipt?: (result: string) => void;
  claim?: (result: string, creditedBytes: number, paidWei: bigint) => void;
  refusedByPayer?: (reason: string) => void;
  edgeReceipt?: (result: string) => void;
}

/** Sessions (and edges) whose newest receipt is kept per stream; past it, new ones are refused. */
export const MAX_SESSIONS_PER_STREAM = 50_000;
/** Streams with receipts at most. */
const MAX_STREAMS = 1_024;
/** Directory answers about a stream's terms are reused this long. */
const TERMS_MAX_AGE_MS = 30_000;
const CLAIM_TIMEOUT_MS = 10_000;
const CLAIM_ANSWER_MAX_BYTES = 256 * 1024;
/**
 * Claims one round may send in all (each up to MAX_RECEIPTS_PER_CLAIM receipts): within the payer's claim
 * rate per relay (5/s, bursts of 20, broadcaster/delivery-routes.ts) at the default 5 s interval, and 16 ×
 * 256 receipts a round is about 8,000 viewers at one receipt per 10 s.
 */
export const MAX_CLAIMS_PER_ROUND = 16;

/**
 * One session's receipts: the last one whose signatures were checked (here, or credited by the payer) and
 * the newest one, when newer, whose receipt signature nobody checked yet. Two receipts per session at most.
 */
interface SessionReceipts {
  verified: SignedReceipt;
  unverified: SignedReceipt | null;
}

const newestOf = (r: SessionReceipts): SignedReceipt => r.unverified ?? r.verified;

interface StreamEarnings {
  sessions: Map<string, SessionReceipts>;
  /** Sessions whose newest receipt the payer has not answered yet. */
  pending: Set<string>;
  /** Wei credited by the payer (bytes × price) and expected value received in tickets, over every claim. */
  owedWei: bigint;
  paidWei: bigint;
  /** Since when claims have failed with receipts waiting; null while the payer pays. */
  unpaidSince: number | null;
  terms: { at: number; terms: Promise<DeliveryTerms | null> } | null;
  /**
   * Payments the payer sent that this relay could not check yet (its view of the payer's funds lagging the
   * chain, or the chain not answering): the payer counts them paid, so they are checked again each round
   * rather than lost.
   */
  held: Array<{ payment: Payment; tries: number }>;
}

/** Refusals of a payment that say more about this relay's view than about the payment: checked again later. */
const TRANSIENT_PAYMENT_REFUSALS = new Set(['funds_unknown', 'insufficient_deposit']);
/** Payments held per stream at most, and rounds each is checked again before it is given up (logged). */
const MAX_HELD_PAYMENTS = 8;
const HELD_PAYMENT_TRIES = 12;

/** Where an edge's pulled bytes go: one cumulative receipt per parent and stream. */
interface ParentAccount {
  address: Promise<{ relay: string; pricePerByte: bigint } | null>;
  bytes: number;
  rendition: string;
  sequence: number;
  sentBytes: number;
  /** Signed, waiting for the next segment pulled from the parent. */
  due: SignedReceipt | null;
  /** On a pull, its answer not read yet. */
  riding: SignedReceipt | null;
}

export class DeliveryEarnings {
  private readonly options: DeliveryEarningsOptions;
  private readonly now: () => number;
  private readonly streams = new Map<string, StreamEarnings>();
  private readonly parents = new Map<string, ParentAccount>();
  private timer: NodeJS.Timeout | null = null;
  private claiming: Promise<void> | null = null;

  constructor(options: DeliveryEarningsOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  get address(): string {
    return this.options.identity.address;
  }

  get pricePerByte(): bigint {
    return this.options.pricePerByte;
  }

  /** Streams whose payer stopped paying (claims failing with receipts waiting). */
  get unpaidStreams(): string[] {
    return [...this.streams].filter(([, s]) => s.unpaidSince !== null).map(([id]) => id);
  }

  /** Bytes of newest receipts per stream, and what was credited and paid (tests and /metrics read these). */
  figures(playbackId: string): { receiptBytes: number; owedWei: bigint; paidWei: bigint; pending: number; unverified: number } | null {
    const s = this.streams.get(playbackId);
    if (!s) return null;
    let receiptBytes = 0;
    let unverified = 0;
    for (const r of s.sessions.values()) {
      receiptBytes += newestOf(r).receipt.bytes;
      if (r.unverified) unverified++;
    }
    return { receiptBytes, owedWei: s.owedWei, paidWei: s.paidWei, pending: s.pending.size, unverified };
  }

  /** Null when a segment of the stream may be served; a 402 when the operator refuses unpaid streams and this one is. */
  admit(playbackId: string): CastnetError | null {
    if (!this.options.refuseUnpaid) return null;
    const s = this.streams.get(playbackId);
    if (!s || s.unpaidSince === null) return null;
    return new CastnetError('PAYMENT_REQUIRED', "this relay serves this stream no more: its payer stopped paying for delivery", { playbackId, reason: 'payer_not_paying' });
  }

  /**
   * The stream's terms, re-read from the directory at most every TERMS_MAX_AGE_MS. Terms once learned stay
   * when the directory later knows the stream no more: a stream that ended still owes its last receipts.
   */
  private termsOf(playbackId: string, s: StreamEarnings): Promise<DeliveryTerms | null> {
    if (!s.terms || this.now() - s.terms.at > TERMS_MAX_AGE_MS) {
      const previous = s.terms?.terms.catch(() => null) ?? Promise.resolve(null);
      const terms = this.options.lookup(playbackId).then(async (t) => t ?? (await previous));
      s.terms = { at: this.now(), terms };
      terms.catch(() => (s.terms = null));
    }
    return s.terms.terms;
  }

  private stream(playbackId: string): StreamEarnings {
    let s = this.streams.get(playbackId);
    if (!s) {
      if (this.streams.size >= MAX_STREAMS) throw new CastnetError('UNAVAILABLE', 'this relay holds receipts for too many streams', { playbackId, reason: 'receipts_full' });
      s = { sessions: new Map(), pending: new Set(), owedWei: 0n, paidWei: 0n, unpaidSince: null, terms: null, held: [] };
      this.streams.set(playbackId, s);
    }
    return s;
  }

  /**
   * Whether receiving `r` costs no signature recovery: a held session's next receipt, with the same
   * certificate and more bytes than the unverified one held (no more makes receive() check that one).
   */
  holds(playbackId: string, r: SignedReceipt): boolean {
    const slot = this.streams.get(playbackId)?.sessions.get(r.receipt.session);
    return !!slot && sameSignedCertificate(slot.verified.certificate, r.certificate) && (!slot.unverified || r.receipt.bytes > slot.unverified.receipt.bytes);
  }

  /** A receipt a player (or an edge) sent; kept when it is newer than the one held. Throws with the reason otherwise. */
  async receive(playbackId: string, r: SignedReceipt): Promise<void> {
    const refuse = (code: 'BAD_REQUEST' | 'FORBIDDEN' | 'SIGNATURE_INVALID', reason: string, message: string) => {
      this.options.events?.receipt?.(reason);
      return new CastnetError(code, message, { playbackId, reason });
    };
    if (this.options.pricePerByte === 0n) throw refuse('FORBIDDEN', 'free_relay', 'this relay charges nothing for delivery: it takes no receipts');
    if (r.receipt.playbackId !== playbackId) throw refuse('BAD_REQUEST', 'wrong_stream', 'the receipt is for another stream');
    if (r.receipt.relay !== this.address) throw refuse('FORBIDDEN', 'wrong_relay', `the receipt names relay ${r.receipt.relay}, this relay is ${this.address}`);
    const fields = checkReceiptFields(r);
    if (fields) throw refuse('SIGNATURE_INVALID', fields, `the receipt does not verify: ${fields}`);
    const s = this.stream(playbackId);
    const slot = s.sessions.get(r.receipt.session);
    // Hot path (a known session's next receipt, the same certificate): no signature recovery here.
    const known = !!slot && sameSignedCertificate(slot.verified.certificate, r.certificate);
    if (!known) {
      // A new session (or a certificate not seen for it): both signatures and the stream's payer, before it takes a slot.
      const signatures = checkReceiptSignatures(r);
      if (signatures) throw refuse('SIGNATURE_INVALID', signatures, `the receipt does not verify: ${signatures}`);
      if (r.certificate) {
        const terms = await this.termsOf(playbackId, s).catch(() => null);
        if (!terms) throw refuse('FORBIDDEN', 'unpaid_stream', 'the directory names no payer for this stream');
        if (r.certificate.certificate.payer !== terms.payer) throw refuse('FORBIDDEN', 'wrong_payer', "the session's certificate is not signed by this stream's payer");
      }
    }
    const cumulative = 'a receipt with as many bytes is already held: receipts are cumulative';
    if (slot) {
      if (r.signature === slot.verified.signature || r.signature === slot.unverified?.signature) throw refuse('BAD_REQUEST', 'replayed', cumulative);
      // No more bytes than the unverified one held: that one may be a forgery blocking the session; check it now.
      if (slot.unverified && r.receipt.bytes <= slot.unverified.receipt.bytes && checkReceiptSignatures(slot.unverified, { certificateVerified: true })) {
        slot.unverified = null;
        this.options.events?.receipt?.('dropped_forged');
      }
      const held = newestOf(slot);
      if (held.receipt.bytes >= r.receipt.bytes) throw refuse('BAD_REQUEST', held.receipt.bytes === r.receipt.bytes ? 'replayed' : 'regressed', cumulative);
      if (known) slot.unverified = r;
      else s.sessions.set(r.receipt.session, { verified: r, unverified: null });
    } else {
      if (s.sessions.size >= MAX_SESSIONS_PER_STREAM) throw refuse('FORBIDDEN', 'too_many_sessions', 'this relay holds receipts for too many sessions of this stream');
      s.sessions.set(r.receipt.session, { verified: r, unverified: null });
    }
    s.pending.add(r.receipt.session);
    this.options.events?.receipt?.('kept');
  }

  start(): void {
    this.timer = setInterval(() => void this.claimAll(), this.options.claimIntervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.claiming;
  }

  /**
   * One round: every stream with receipts the payer has not answered, and every parent owed a receipt. A
   * stream whose backlog fills a whole claim is claimed again at once, from the round's spare claims
   * (MAX_CLAIMS_PER_ROUND in all, within the payer's per-relay claim rate), so a relay with thousands of
   * viewers on one stream is not held to one batch per interval.
   */
  claimAll(): Promise<void> {
    this.claiming ??= (async () => {
      try {
        await Promise.all([...this.streams].filter(([, s]) => s.held.length > 0).map(([id, s]) => this.retryHeld(id, s)));
        const due = [...this.streams].filter(([, s]) => s.pending.size > 0);
        let spare = Math.max(0, MAX_CLAIMS_PER_ROUND - due.length);
        const drain = async (id: string, s: StreamEarnings) => {
          let answered = await this.claim(id, s);
          while (answered === MAX_RECEIPTS_PER_CLAIM && s.pending.size > 0 && spare > 0) {
            spare--;
            answered = await this.claim(id, s);
          }
        };
        await Promise.all([...due.map(([id, s]) => drain(id, s)), this.sendEdgeReceipts()]);
      } finally {
        this.claiming = null;
      }
    })();
    return this.claiming;
  }

  /**
   * The same checks as a transcoder's (recipient, parameters, signatures, nonces, the payer's funds), then
   * the winners to the redemption queue: the expected value taken. A payment refused for a reason that may
   * pass (funds not yet seen) is held and checked again next round; any other refusal throws.
   */
  private async take(playbackId: string, s: StreamEarnings, payment: Payment): Promise<bigint> {
    try {
      const verified = await this.options.payments.verify(payment);
      const paid = this.options.payments.redeem(verified, 0n).expectedValue;
      s.paidWei += paid;
      return paid;
    } catch (err) {
      const reason = err instanceof CastnetError ? String(err.context.reason ?? '') : '';
      if (!TRANSIENT_PAYMENT_REFUSALS.has(reason) || s.held.length >= MAX_HELD_PAYMENTS) throw err;
      s.held.push({ payment, tries: 0 });
      this.options.logger.warn({ playbackId, reason, err: (err as Error).message }, 'delivery payment held: it is checked again next round');
      return 0n;
    }
  }

  /** Held payments checked again: taken when they pass, given up (logged) after HELD_PAYMENT_TRIES rounds or on a lasting refusal. */
  private async retryHeld(playbackId: string, s: StreamEarnings): Promise<void> {
    for (const h of s.held.splice(0)) {
      try {
        const verified = await this.options.payments.verify(h.payment);
        s.paidWei += this.options.payments.redeem(verified, 0n).expectedValue;
      } catch (err) {
        const reason = err instanceof CastnetError ? String(err.context.reason ?? '') : '';
        if (TRANSIENT_PAYMENT_REFUSALS.has(reason) && ++h.tries < HELD_PAYMENT_TRIES) s.held.push(h);
        else this.options.logger.warn({ playbackId, reason, err: (err as Error).message }, 'delivery payment given up after being held');
      }
    }
  }

  private markUnpaid(playbackId: string, s: StreamEarnings, why: string, err?: unknown): void {
    if (s.unpaidSince === null) {
      s.unpaidSince = this.now();
      this.options.logger.warn({ playbackId, why, err, owedWei: s.owedWei.toString(), paidWei: s.paidWei.toString() }, "stream unpaid: its payer is not paying for this relay's delivery");
    }
  }

  /** One claim of up to MAX_RECEIPTS_PER_CLAIM receipts: how many the payer answered (0 when the claim failed). */
  private async claim(playbackId: string, s: StreamEarnings): Promise<number> {
    const sessions = [...s.pending].slice(0, MAX_RECEIPTS_PER_CLAIM);
    const receipts = sessions.map((id) => newestOf(s.sessions.get(id)!));
    let terms: DeliveryTerms | null;
    try {
      terms = await this.termsOf(playbackId, s);
    } catch (err) {
      this.options.events?.claim?.('lookup_failed', 0, 0n);
      this.markUnpaid(playbackId, s, 'the directory did not answer', err);
      return 0;
    }
    if (!terms) {
      this.options.events?.claim?.('no_payer', 0, 0n);
      this.markUnpaid(playbackId, s, 'the directory names no payer');
      return 0;
    }
    try {
      const params = this.options.payments.ticketParams(terms.payer);
      const body = new TextEncoder().encode(JSON.stringify({ playbackId, ticketParams: ticketParamsToJson(params), receipts }));
      const path = '/delivery/claims';
      const res = await this.options.fetch(`${terms.url.replace(/\/$/, '')}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signRequest(this.options.identity, { method: 'POST', path, body, timestamp: this.now() }) },
        body,
        signal: AbortSignal.timeout(CLAIM_TIMEOUT_MS),
      });
      if (!res.ok) throw await failureFromResponse(res, 'the payer refused the claim', terms.url);
      const answer = claimAnswerSchema.parse(JSON.parse((await readLimited(res, CLAIM_ANSWER_MAX_BYTES, { playbackId })).toString('utf8')));
      const price = BigInt(answer.pricePerByte);
      let credited = 0;
      for (const [i, result] of answer.results.entries()) {
        const session = sessions[i];
        if (session === undefined || result.session !== session) continue;
        const slot = s.sessions.get(session)!;
        const sent = receipts[i]!;
        if (slot.unverified === sent) {
          // The payer checked the signatures we deferred: credited, it is the session's verified receipt; forged, it goes.
          if (result.reason === 'bad_signature') {
            slot.unverified = null;
            this.options.events?.receipt?.('dropped_forged');
          } else if (!result.reason || result.credited > 0) {
            slot.verified = sent;
            slot.unverified = null;
          }
        }
        // Answered: a newer receipt of the session may have arrived meanwhile and stays pending, as does
        // the verified one a dropped forgery had hidden (it may never have been claimed).
        if (newestOf(slot) === sent) s.pending.delete(session);
        credited += result.credited;
        if (result.reason && result.reason !== 'replayed') this.options.events?.refusedByPayer?.(result.reason);
      }
      s.owedWei += BigInt(credited) * price;
      let paid = 0n;
      if (answer.payment) paid = await this.take(playbackId, s, decodePayment(answer.payment));
      this.options.events?.claim?.('paid', credited, paid);
      // The payer pays what it owes up to one ticket's rounding; owing more than that is not paying.
      const tolerance = verifiedTicketValue(params.faceValue, params.winProb) * 64n;
      if (s.owedWei > s.paidWei + tolerance) this.markUnpaid(playbackId, s, `credited ${s.owedWei} wei, paid ${s.paidWei}`);
      else if (s.unpaidSince !== null) {
        s.unpaidSince = null;
        this.options.logger.info({ playbackId }, 'stream paid again');
      }
      return receipts.length;
    } catch (err) {
      this.options.events?.claim?.(err instanceof CastnetError ? String(err.context.reason ?? err.code).toLowerCase() : 'unreachable', 0, 0n);
      this.markUnpaid(playbackId, s, 'the claim failed', err);
      return 0;
    }
  }

  /**
   * Edge side: bytes of a segment pulled from `parent` (a relay URL). Counted per parent and stream;
   * a receipt for the total goes out with the next claim round when the parent charges for delivery.
   */
  pulled(playbackId: string, parent: string, rendition: string, sequence: number, bytes: number): void {
    const key = `${parent} ${playbackId}`;
    let account = this.parents.get(key);
    if (!account) {
      if (this.parents.size >= MAX_STREAMS * 4) this.parents.delete(this.parents.keys().next().value!);
      account = { address: this.parentTerms(parent, playbackId), bytes: 0, rendition, sequence, sentBytes: 0, due: null, riding: null };
      this.parents.set(key, account);
    }
    account.bytes += bytes;
    account.rendition = rendition;
    account.sequence = sequence;
  }

  /** `url` (a segment about to be pulled from `parent`) with the receipt due for that parent and stream, if one is. */
  attachForParent(playbackId: string, parent: string, url: string): string {
    const account = this.parents.get(`${parent} ${playbackId}`);
    if (!account?.due) return url;
    account.riding = account.due;
    account.due = null;
    return withReceiptParam(url, account.riding);
  }

  /** The parent's answer to a pull that carried a receipt (its castnet-receipt header; null when the pull failed or the parent ignores receipts there). */
  parentAnswered(playbackId: string, parent: string, header: string | null): void {
    const account = this.parents.get(`${parent} ${playbackId}`);
    const sent = account?.riding;
    if (!account || !sent) return;
    account.riding = null;
    const answer = parseReceiptAnswer(header);
    // Unanswered: POSTed at the next round.
    if (answer === null) account.due ??= sent;
    else if (answer.kept) account.sentBytes = Math.max(account.sentBytes, sent.receipt.bytes);
    this.options.events?.edgeReceipt?.(answer === null ? 'unanswered' : answer.kept ? 'sent' : `refused_${answer.reason}`);
  }

  private async parentTerms(parent: string, playbackId: string): Promise<{ relay: string; pricePerByte: bigint } | null> {
    try {
      const res = await this.options.fetch(`${parent}/delivery/${playbackId}`, { signal: AbortSignal.timeout(CLAIM_TIMEOUT_MS) });
      if (!res.ok) return null;
      const body = JSON.parse((await readLimited(res, 4_096, { playbackId })).toString('utf8')) as { relay?: unknown; pricePerByte?: unknown };
      if (typeof body.relay !== 'string' || !/^0x[0-9a-f]{40}$/.test(body.relay) || typeof body.pricePerByte !== 'string' || !/^\d{1,78}$/.test(body.pricePerByte)) return null;
      return { relay: body.relay, pricePerByte: BigInt(body.pricePerByte) };
    } catch {
      return null;
    }
  }

  private async sendEdgeReceipts(): Promise<void> {
    await Promise.all(
      [...this.parents].map(async ([key, account]) => {
        if (account.bytes === account.sentBytes) return;
        const [parent, playbackId] = key.split(' ') as [string, string];
        const terms = await account.address;
        if (!terms || terms.pricePerByte === 0n) return;
        // One riding now: its answer comes with the pull.
        if (account.riding && account.riding.receipt.bytes === account.bytes) return;
        const signed = signReceipt({ session: this.address, playbackId, relay: terms.relay, bytes: account.bytes, rendition: account.rendition, sequence: account.sequence, at: this.now() }, this.options.identity.privateKey);
        // The first for these bytes rides on the next pull; one no pull took since the last round is POSTed.
        if (account.due === null) {
          account.due = signed;
          return;
        }
        account.due = null;
        try {
          const res = await this.options.fetch(`${parent}/delivery/${playbackId}/receipts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(signed), signal: AbortSignal.timeout(CLAIM_TIMEOUT_MS) });
          await res.arrayBuffer().catch(() => undefined);
          if (res.ok) account.sentBytes = signed.receipt.bytes;
          this.options.events?.edgeReceipt?.(res.ok ? 'sent' : `refused_${res.status}`);
        } catch {
          this.options.events?.edgeReceipt?.('unreachable');
        }
      }),
    );
  }
}

function sameSignedCertificate(a: SignedReceipt['certificate'], b: SignedReceipt['certificate']): boolean {
  if (!a || !b) return !a && !b;
  return a.signature === b.signature && sameCertificate(a.certificate, b.certificate);
}

function sameCertificate(a: SessionCertificate, b: SessionCertificate): boolean {
  return a.playbackId === b.playbackId && a.sessionKey === b.sessionKey && a.payer === b.payer && a.issuedAt === b.issuedAt && a.expiresAt === b.expiresAt && a.byteBudget === b.byteBudget;
}

/** One ticket's expected value in wei (rounded down). */
function verifiedTicketValue(faceValue: bigint, winProb: bigint): bigint {
  return (faceValue * winProb) / ((1n << 256n) - 1n);
}
