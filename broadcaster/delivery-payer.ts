// The payer's side of paid delivery (issue 14): it certifies viewer sessions for the streams it publishes,
// and pays relays for the bytes their newest receipts prove. Every receipt is checked — signatures,
// certificate, stream, relay identity, monotonic bytes, budget, expiry and plausibility against what this
// broadcaster itself published — and refused with a reason otherwise; what passes is credited at the
// relay's price and paid with probabilistic tickets on the relay's own ticket parameters, so winners are
// redeemed through the same ledger (or chain) as transcoding. Credit and payment are kept per relay and
// stream in wei × MAX_WIN_PROB, so over all claims the expected value paid exceeds what is owed by less
// than one ticket. Hot path: one claim per relay per stream every few seconds.

import { CastnetError } from '../protocol/errors.ts';
import type { Identity } from '../protocol/identity.ts';
import { MAX_TICKETS_PER_PAYMENT, encodePayment, ticketOf, type Payment } from '../protocol/payment.ts';
import { MAX_WIN_PROB, scaledExpectedValue, signTicket } from '../protocol/ticket.ts';
import { checkReceiptSignatures, signCertificate, type SignedCertificate, type SignedReceipt } from '../protocol/delivery-receipt.ts';
import type { Claim, ClaimAnswer, ReceiptRefusal } from '../protocol/delivery-claim.ts';
import type { ClaimWrite, DeliveryStore } from './delivery-store.ts';

export interface DeliveryPayerOptions {
  identity: Identity;
  /** The most paid a relay, wei per byte delivered. */
  maxPricePerByte: bigint;
  /** The largest ticket face value signed for a relay: one winner's exposure. */
  maxFaceValue: bigint;
  sessionTtlMs: number;
  sessionBytes: number;
  now?: () => number;
  /** Whether an address is a relay registered at the orchestrator (edge receipts are signed by node keys). */
  isRelay?: (address: string) => Promise<boolean>;
  /** Where sessions, credits, published weights and nonces survive a restart; none: memory only. */
  store?: DeliveryStore;
}

/**
 * Plausibility slack over what was published: hls.js may fetch a segment twice (a retry after a timeout)
 * and fetch the same sequence in two renditions around a switch. 1.25 × keeps an honest session far from
 * the bound and a colluding one within a quarter of an honest session's weight.
 */
export const PLAUSIBILITY_SLACK = 1.25;
/** Segments behind live a player may start from (hls.js starts 3 back; a playlist lists 6). */
export const LIVE_WINDOW_SEGMENTS = 8;
/** How long after a session expires its receipts may still be claimed. */
export const CLAIM_GRACE_MS = 10 * 60_000;
/** Clock difference tolerated between a receipt's signer and the payer. */
export const RECEIPT_SKEW_MS = 30_000;
/** Sessions remembered per stream at most; past it, new sessions are refused (busy) until the stream ends. */
export const MAX_SESSIONS_PER_STREAM = 100_000;
/** Edges one relay may present receipts from per stream: each edge is credited at most one copy of the stream. */
export const MAX_EDGES_PER_RELAY = 32;
/** Sequence numbers remembered per stream (a day of 2 s segments). */
const MAX_SEGMENTS_PER_STREAM = 43_200;
/** Ticket parameters whose next nonce is remembered (the oldest go first). */
const MAX_NONCES = 10_000;

interface SegmentWeight {
  /** Bytes of its heaviest rendition: what one viewer may have fetched of this sequence. */
  max: number;
  /** Bytes of every rendition: what an edge mirroring the stream may have pulled. */
  total: number;
  renditions: Set<string>;
}

interface Credit {
  /** Wei owed × MAX_WIN_PROB, and the expected value paid × MAX_WIN_PROB. */
  owedScaled: bigint;
  paidScaled: bigint;
  /** Newest credited cumulative bytes, per session (or edge). */
  bytes: Map<string, number>;
  edges: Set<string>;
}

interface StreamLedger {
  segments: Map<number, SegmentWeight>;
  newestSeq: number;
  totalBytes: number;
  /** Bytes per second of the heaviest segment of any rendition. */
  peakBytesPerSecond: number;
  maxSegmentBytes: number;
  sessions: Map<string, { issuedAt: number; startSeq: number; credited: number }>;
  credits: Map<string, Credit>;
  /** Cumulative heaviest-rendition bytes, ascending by sequence; rebuilt when segments change. */
  prefix: { seqs: number[]; sums: number[] } | null;
}

export interface ReceiptVerdict {
  session: string;
  credited: number;
  reason?: ReceiptRefusal;
}

export class DeliveryPayer {
  private readonly options: DeliveryPayerOptions;
  private readonly now: () => number;
  private readonly streams = new Map<string, StreamLedger>();
  /** Next ticket nonce per relay's recipientRandHash (bounded: the oldest parameters go first). */
  private readonly nonces = new Map<string, number>();

  constructor(options: DeliveryPayerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    const store = options.store;
    if (!store) return;
    // What the last run knew: its certificates still count, its credits and nonces go on from where they were.
    for (const stored of store.load()) {
      const s = this.ledger(stored.playbackId);
      for (const seg of stored.segments) this.weigh(s, seg.rendition, seg.seq, seg.bytes, seg.durationS);
      for (const session of stored.sessions) s.sessions.set(session.key, { issuedAt: session.issuedAt, startSeq: session.startSeq, credited: session.credited });
      for (const c of stored.credits) {
        s.credits.set(c.relay, { owedScaled: c.owedScaled, paidScaled: c.paidScaled, bytes: new Map(c.bytes.map((b) => [b.session, b.bytes])), edges: new Set(c.bytes.filter((b) => b.edge).map((b) => b.session)) });
      }
    }
    for (const [randHash, nonce] of store.nonces()) this.nonces.set(randHash, nonce);
  }

  /** Streams this payer remembers (after a restart: those of the last run, until they reopen or are closed). */
  streamIds(): string[] {
    return [...this.streams.keys()];
  }

  private ledger(playbackId: string): StreamLedger {
    let s = this.streams.get(playbackId);
    if (!s) {
      s = { segments: new Map(), newestSeq: -1, totalBytes: 0, peakBytesPerSecond: 0, maxSegmentBytes: 0, sessions: new Map(), credits: new Map(), prefix: null };
      this.streams.set(playbackId, s);
    }
    return s;
  }

  get address(): string {
    return this.options.identity.address;
  }

  /** A stream this broadcaster publishes: sessions may be issued for it. */
  open(playbackId: string): void {
    if (this.streams.has(playbackId)) return;
    this.ledger(playbackId);
    this.options.store?.opened(playbackId);
  }

  /** The stream is over: its records go (receipts for it are refused as unknown from then on). */
  close(playbackId: string): void {
    this.streams.delete(playbackId);
    this.options.store?.closed(playbackId);
  }

  /** What this broadcaster published: the only ground truth a receipt is weighed against. */
  published(playbackId: string, rendition: string, seq: number, bytes: number, durationS: number): void {
    const s = this.streams.get(playbackId);
    if (!s) return;
    const dropped = this.weigh(s, rendition, seq, bytes, durationS);
    if (dropped !== false) this.options.store?.published(playbackId, { seq, rendition, bytes, durationS }, dropped);
  }

  /** Adds one rendition of a segment to the stream's weights: false when it was known, else the sequence dropped to stay bounded (or null). */
  private weigh(s: StreamLedger, rendition: string, seq: number, bytes: number, durationS: number): number | null | false {
    let dropped: number | null = null;
    let w = s.segments.get(seq);
    if (!w) {
      w = { max: 0, total: 0, renditions: new Set() };
      s.segments.set(seq, w);
      if (s.segments.size > MAX_SEGMENTS_PER_STREAM) {
        dropped = s.segments.keys().next().value!;
        s.segments.delete(dropped);
      }
    }
    if (w.renditions.has(rendition)) return false;
    w.renditions.add(rendition);
    w.max = Math.max(w.max, bytes);
    w.total += bytes;
    s.totalBytes += bytes;
    s.newestSeq = Math.max(s.newestSeq, seq);
    s.maxSegmentBytes = Math.max(s.maxSegmentBytes, bytes);
    if (durationS > 0) s.peakBytesPerSecond = Math.max(s.peakBytesPerSecond, bytes / durationS);
    s.prefix = null;
    return dropped;
  }

  /** A certificate for a player's ephemeral key. STREAM_NOT_FOUND unless this broadcaster publishes the stream. */
  issueSession(playbackId: string, sessionKey: string): SignedCertificate {
    const s = this.streams.get(playbackId);
    if (!s) throw new CastnetError('STREAM_NOT_FOUND', 'this payer publishes no such stream', { playbackId });
    const key = sessionKey.toLowerCase();
    if (!s.sessions.has(key) && s.sessions.size >= MAX_SESSIONS_PER_STREAM) throw new CastnetError('UNAVAILABLE', 'too many viewer sessions for this stream', { playbackId, reason: 'busy' });
    const now = this.now();
    const existing = s.sessions.get(key);
    // A key asking again keeps its start: a later start would widen what it may claim.
    if (!existing) {
      const session = { issuedAt: now, startSeq: Math.max(0, s.newestSeq - LIVE_WINDOW_SEGMENTS), credited: 0 };
      // Remembered before the certificate leaves: a restart must not forget a session a player holds.
      this.options.store?.sessionIssued(playbackId, { key, issuedAt: session.issuedAt, startSeq: session.startSeq });
      s.sessions.set(key, session);
    }
    const issuedAt = existing?.issuedAt ?? now;
    return signCertificate({ playbackId, sessionKey: key, payer: this.address, issuedAt, expiresAt: issuedAt + this.options.sessionTtlMs, byteBudget: this.options.sessionBytes }, this.options.identity.privateKey);
  }

  private prefixOf(s: StreamLedger): { seqs: number[]; sums: number[] } {
    if (s.prefix) return s.prefix;
    const seqs = [...s.segments.keys()].sort((a, b) => a - b);
    const sums: number[] = [];
    let sum = 0;
    for (const seq of seqs) sums.push((sum += s.segments.get(seq)!.max));
    return (s.prefix = { seqs, sums });
  }

  /** Heaviest-rendition bytes of every sequence from `from` on: what one viewer can have received. */
  private weightFrom(s: StreamLedger, from: number): number {
    const { seqs, sums } = this.prefixOf(s);
    let lo = 0;
    let hi = seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (seqs[mid]! < from) lo = mid + 1;
      else hi = mid;
    }
    const before = lo > 0 ? sums[lo - 1]! : 0;
    return (sums.at(-1) ?? 0) - before;
  }

  /** One receipt's verdict; credits it when it passes. */
  private async judge(s: StreamLedger, playbackId: string, relay: string, credit: Credit, r: SignedReceipt, now: number): Promise<ReceiptVerdict> {
    const rec = r.receipt;
    const refuse = (reason: ReceiptRefusal): ReceiptVerdict => ({ session: rec.session, credited: 0, reason });
    if (rec.playbackId !== playbackId) return refuse('wrong_stream');
    if (rec.relay !== relay) return refuse('wrong_relay');
    const signatures = checkReceiptSignatures(r);
    if (signatures) return refuse(signatures);
    if (rec.at > now + RECEIPT_SKEW_MS) return refuse('implausible');
    // Edges are registered relays, at most MAX_EDGES_PER_RELAY per relay and stream. Asked before any
    // state is read, so nothing below waits and two claims cannot both credit the same bytes.
    if (!r.certificate && !credit.edges.has(rec.session)) {
      if (credit.edges.size >= MAX_EDGES_PER_RELAY) return refuse('busy');
      if (!(await (this.options.isRelay?.(rec.session) ?? Promise.resolve(false)))) return refuse('not_an_edge');
      if (credit.edges.size >= MAX_EDGES_PER_RELAY) return refuse('busy');
      credit.edges.add(rec.session);
    }
    const seg = s.segments.get(rec.sequence);
    // A low-latency viewer's newest bytes are parts of the segment being cut: the one after the newest
    // published, in a rendition published before (the bytes bounds below still hold it to what was published).
    const inProgress = !seg && rec.sequence === s.newestSeq + 1 && s.segments.get(s.newestSeq)?.renditions.has(rec.rendition) === true;
    if (!inProgress && !seg?.renditions.has(rec.rendition)) return refuse('unknown_segment');
    const previous = credit.bytes.get(rec.session) ?? 0;
    if (rec.bytes < previous) return refuse('regressed');
    if (rec.bytes === previous) return refuse('replayed');
    const added = rec.bytes - previous;
    const slack = (bytes: number) => PLAUSIBILITY_SLACK * bytes + s.maxSegmentBytes;
    if (r.certificate) {
      const c = r.certificate.certificate;
      if (c.payer !== this.address) return refuse('bad_certificate');
      const session = s.sessions.get(rec.session);
      // Certificates are only ever issued by this process, for sessions it remembers.
      if (!session || session.issuedAt !== c.issuedAt) return refuse('bad_certificate');
      if (now > c.expiresAt + CLAIM_GRACE_MS) return refuse('expired');
      const total = session.credited + added;
      if (total > c.byteBudget) return refuse('over_budget');
      if (rec.sequence < session.startSeq) return refuse('unknown_segment');
      // Bytes: no more than the heaviest rendition of every segment since the session began, over all its relays.
      if (total > slack(this.weightFrom(s, session.startSeq))) return refuse('implausible');
      // Rate: no more than the stream's peak bitrate for as long as the session has lasted, plus a live window to start with.
      const seconds = Math.max(0, Math.min(rec.at, now) - session.issuedAt) / 1000;
      if (total > slack(s.peakBytesPerSecond * seconds) + LIVE_WINDOW_SEGMENTS * s.maxSegmentBytes) return refuse('implausible');
      session.credited = total;
    } else if (rec.bytes > slack(s.totalBytes)) {
      // An edge's receipt, signed by its node key: at most one copy of everything published.
      return refuse('implausible');
    }
    credit.bytes.set(rec.session, rec.bytes);
    return { session: rec.session, credited: added };
  }

  /**
   * A relay's claim (`relay`: the verified signer of the request). Refuses the whole claim for another
   * recipient, a price above the maximum or an unknown stream; otherwise answers a verdict per receipt and
   * tickets for what is owed.
   */
  async claim(relay: string, claim: Claim): Promise<ClaimAnswer> {
    const s = this.streams.get(claim.playbackId);
    if (!s) throw new CastnetError('STREAM_NOT_FOUND', 'this payer publishes no such stream (or it ended)', { playbackId: claim.playbackId });
    const p = claim.ticketParams;
    const now = this.now();
    if (p.recipient !== relay) throw new CastnetError('FORBIDDEN', `ticket parameters are for ${p.recipient}, the claim is signed by ${relay}`, { reason: 'wrong_recipient' });
    const price = p.pricePerPixel;
    if (price > this.options.maxPricePerByte) throw new CastnetError('FORBIDDEN', `the relay asks ${price} wei per byte, above this payer's maximum ${this.options.maxPricePerByte}`, { reason: 'price_too_high' });
    if (p.faceValue > this.options.maxFaceValue) throw new CastnetError('FORBIDDEN', `ticket face value ${p.faceValue} is above this payer's maximum ${this.options.maxFaceValue}`, { reason: 'face_value_too_high' });
    if (p.expiresAt < now) throw new CastnetError('FORBIDDEN', 'ticket parameters expired: issue new ones', { reason: 'expired_params' });
    const perTicket = scaledExpectedValue(p.faceValue, p.winProb);
    if (perTicket === 0n) throw new CastnetError('FORBIDDEN', 'tickets worth nothing', { reason: 'invalid_params' });
    let credit = s.credits.get(relay);
    if (!credit) {
      credit = { owedScaled: 0n, paidScaled: 0n, bytes: new Map(), edges: new Set() };
      s.credits.set(relay, credit);
    }
    const results: ReceiptVerdict[] = [];
    let credited = 0;
    for (const r of claim.receipts) {
      const verdict = await this.judge(s, claim.playbackId, relay, credit, r, now);
      credited += verdict.credited;
      results.push(verdict);
    }
    credit.owedScaled += BigInt(credited) * price * MAX_WIN_PROB;
    let payment: string | null = null;
    let nonceWritten: ClaimWrite['nonce'] = null;
    const deficit = credit.owedScaled - credit.paidScaled;
    if (deficit > 0n) {
      // Enough tickets to cover what is owed (a remainder past the batch limit waits for the next claim).
      const count = Math.min(MAX_TICKETS_PER_PAYMENT, Number((deficit + perTicket - 1n) / perTicket));
      const tickets: Payment = { sender: this.address, ticketParams: p, tickets: [] };
      let nonce = this.nonces.get(p.recipientRandHash) ?? 0;
      for (let i = 0; i < count; i++, nonce++) tickets.tickets.push({ senderNonce: nonce, signature: signTicket(ticketOf(tickets, nonce), this.options.identity.privateKey) });
      this.nonces.delete(p.recipientRandHash);
      if (this.nonces.size >= MAX_NONCES) this.nonces.delete(this.nonces.keys().next().value!);
      this.nonces.set(p.recipientRandHash, nonce);
      nonceWritten = { randHash: p.recipientRandHash, next: nonce };
      credit.paidScaled += perTicket * BigInt(count);
      payment = encodePayment(tickets);
    }
    // (A stream closed while this claim waited keeps nothing on disk.)
    if (this.options.store && (credited > 0 || nonceWritten) && this.streams.get(claim.playbackId) === s) {
      // Committed before the tickets leave: after a crash, what was paid is known and no nonce is signed twice.
      const touched = results.filter((r) => r.credited > 0).map((r) => r.session);
      this.options.store.claimed({
        playbackId: claim.playbackId,
        relay,
        owedScaled: credit.owedScaled,
        paidScaled: credit.paidScaled,
        sessions: touched.filter((k) => s.sessions.has(k)).map((k) => ({ key: k, credited: s.sessions.get(k)!.credited })),
        bytes: touched.map((k) => ({ session: k, bytes: credit.bytes.get(k)!, edge: credit.edges.has(k) })),
        nonce: nonceWritten,
      }, MAX_NONCES);
    }
    return {
      results: results.map((r) => ({ session: r.session, credited: r.credited, ...(r.reason ? { reason: r.reason } : {}) })),
      pricePerByte: price.toString(),
      payment,
      owedWei: (credit.owedScaled / MAX_WIN_PROB).toString(),
      paidWei: (credit.paidScaled / MAX_WIN_PROB).toString(),
    };
  }
}
