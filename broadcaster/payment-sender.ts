// The broadcaster's side of payments: fetches ticket parameters from each transcoder, and signs enough
// tickets with each segment that their expected value covers its price, never above the broadcaster's
// maximum price per pixel. Hot path: one payment (a few signatures) per segment.

import { failureFromResponse } from '../protocol/http-failure.ts';
import { readLimited } from '../protocol/read-limited.ts';
import { CastnetError } from '../protocol/errors.ts';
import type { Identity } from '../protocol/identity.ts';
import { MAX_TICKETS_PER_PAYMENT, encodePayment, paymentRequired, ticketOf, type Payment } from '../protocol/payment.ts';
import { ticketParamsSchema, type TicketParams } from '../protocol/ticket-params.ts';
import { MAX_WIN_PROB, scaledExpectedValue, signTicket } from '../protocol/ticket.ts';

export interface SignedPayment {
  header: string;
  tickets: number;
  /** Expected value sent, in wei (rounded down). */
  expectedValue: bigint;
  /** The segment's price, in wei. */
  price: bigint;
}

/** Parameters are refreshed this long before they expire, so a segment in flight never carries stale ones. */
const EXPIRY_MARGIN_MS = 30_000;

const TICKET_PARAMS_TIMEOUT_MS = 5_000;
/** Ticket parameters are a few hundred bytes of JSON. */
const TICKET_PARAMS_MAX_BYTES = 64 * 1024;

/** Fetches a transcoder's ticket parameters for a sender (GET /ticket-params); the answer is validated here. */
export type TicketParamsSource = (transcoderUrl: string, sender: string) => Promise<unknown>;

/** GET /ticket-params over HTTP with `fetch`. */
export function httpTicketParams(fetch: typeof globalThis.fetch = globalThis.fetch): TicketParamsSource {
  return async (transcoderUrl, sender) => {
    const res = await fetch(`${transcoderUrl}/ticket-params?sender=${sender}`, { signal: AbortSignal.timeout(TICKET_PARAMS_TIMEOUT_MS) });
    if (!res.ok) throw await failureFromResponse(res, 'transcoder refused ticket parameters', transcoderUrl);
    const text = (await readLimited(res, TICKET_PARAMS_MAX_BYTES, { node: transcoderUrl })).toString('utf8');
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new CastnetError('UPSTREAM_FAILED', 'transcoder sent ticket parameters that are not JSON', { node: transcoderUrl });
    }
  };
}

export class PaymentSender {
  private readonly params = new Map<string, { params: TicketParams; nextNonce: number }>();
  private readonly identity: Identity;
  private readonly maxPricePerPixel: bigint;
  private readonly now: () => number;
  private readonly source: TicketParamsSource;

  /** `ticketParams` replaces the HTTP source outright; `fetch` only the fetch the HTTP source uses. */
  constructor(options: { identity: Identity; maxPricePerPixel: bigint; now?: () => number; ticketParams?: TicketParamsSource; fetch?: typeof globalThis.fetch }) {
    this.identity = options.identity;
    this.maxPricePerPixel = options.maxPricePerPixel;
    this.now = options.now ?? Date.now;
    this.source = options.ticketParams ?? httpTicketParams(options.fetch);
  }

  get address(): string {
    return this.identity.address;
  }

  /** Forget a transcoder's parameters (after it refused them); the next payment fetches new ones. */
  invalidate(transcoderUrl: string): void {
    this.params.delete(transcoderUrl);
  }

  private async paramsFor(transcoderUrl: string): Promise<{ params: TicketParams; nextNonce: number }> {
    const cached = this.params.get(transcoderUrl);
    if (cached && cached.params.expiresAt - EXPIRY_MARGIN_MS > this.now()) return cached;
    const parsed = ticketParamsSchema.safeParse(await this.source(transcoderUrl, this.identity.address));
    if (!parsed.success) throw new CastnetError('UPSTREAM_FAILED', 'transcoder sent malformed ticket parameters', { node: transcoderUrl });
    const entry = { params: parsed.data, nextNonce: 0 };
    this.params.set(transcoderUrl, entry);
    return entry;
  }

  /** A signed payment for `pixels` of output at the transcoder, or null when it charges nothing. */
  async pay(transcoderUrl: string, pixels: bigint): Promise<SignedPayment | null> {
    const entry = await this.paramsFor(transcoderUrl);
    const p = entry.params;
    if (p.pricePerPixel > this.maxPricePerPixel) {
      throw paymentRequired('price_too_high', `transcoder asks ${p.pricePerPixel} wei per pixel, above the maximum ${this.maxPricePerPixel}`, { node: transcoderUrl });
    }
    if (p.pricePerPixel === 0n) return null;
    const price = pixels * p.pricePerPixel;
    const perTicket = scaledExpectedValue(p.faceValue, p.winProb);
    if (perTicket === 0n) throw new CastnetError('UPSTREAM_FAILED', 'transcoder offered tickets worth nothing', { node: transcoderUrl });
    // Enough tickets that their expected value covers the price: ceil(price × MAX / (faceValue × winProb)).
    const count = Number((price * MAX_WIN_PROB + perTicket - 1n) / perTicket) || 1;
    if (count > MAX_TICKETS_PER_PAYMENT) {
      throw new CastnetError('UPSTREAM_FAILED', `a segment would need ${count} tickets: the transcoder's ticket value is too small for its price`, { node: transcoderUrl });
    }
    const payment: Payment = { sender: this.identity.address, ticketParams: p, tickets: [] };
    for (let i = 0; i < count; i++) {
      const senderNonce = entry.nextNonce++;
      payment.tickets.push({ senderNonce, signature: signTicket(ticketOf(payment, senderNonce), this.identity.privateKey) });
    }
    return { header: encodePayment(payment), tickets: count, expectedValue: (perTicket * BigInt(count)) / MAX_WIN_PROB, price };
  }
}
