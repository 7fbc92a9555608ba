// Where viewers' and edges' receipts enter a relay (issue 14): the body of `POST /delivery/<id>/receipts`,
// or the `castnet-receipt` parameter of a segment (or part) request, which costs no request of its own.
// Both are parsed by the same schema and kept by delivery-earnings.ts. Rate limits: a POST, and a riding
// receipt of a session this relay does not hold yet (two signature recoveries), are limited per source
// address; the next receipt of a known session that costs no recovery is limited per session, so viewers
// behind one address (a NAT, a CDN) are not refused for each other. A riding receipt that would make the
// relay recover a held one (no more bytes than it: delivery-earnings.ts) counts per address, so whoever
// learned many sessions' certificates (receipts travel in URLs) buys no more recoveries than one address's. Hot path for riding receipts: one base64url
// decode, one JSON parse, one schema parse, map lookups.

import { CastnetError } from '../protocol/errors.ts';
import { parseRequest } from '../protocol/fields.ts';
import { decodeReceiptParam, signedReceiptSchema, RECEIPT_PARAM } from '../protocol/delivery-receipt.ts';
import { RateLimiter } from '../http/rate-limiter.ts';
import type { DeliveryEarnings } from './delivery-earnings.ts';

/** A player sends a receipt every few seconds per relay; a page of several players, or a NAT, a few times that. */
export const RECEIPTS_PER_SECOND = 4;
export const RECEIPTS_BURST = 40;
/** Sessions whose riding receipts are rate-limited at once (past it, the least recent starts full again). */
const SESSION_LIMITER_KEYS = 100_000;

export class ReceiptIntake {
  private readonly earnings: DeliveryEarnings;
  private readonly perSource: RateLimiter;
  private readonly perSession: RateLimiter;

  constructor(options: { earnings: DeliveryEarnings; now?: () => number }) {
    this.earnings = options.earnings;
    const limits = { ratePerSecond: RECEIPTS_PER_SECOND, burst: RECEIPTS_BURST, ...(options.now ? { now: options.now } : {}) };
    this.perSource = new RateLimiter(limits);
    this.perSession = new RateLimiter({ ...limits, maxKeys: SESSION_LIMITER_KEYS });
  }

  /** A POSTed receipt (its body already read within MAX_RECEIPT_BODY_BYTES); throws the refusal. */
  async posted(playbackId: string, source: string, body: unknown): Promise<void> {
    if (!this.perSource.take(source)) throw rateLimited();
    await this.earnings.receive(playbackId, parseRequest(signedReceiptSchema, body, 'receipt'));
  }

  /**
   * A receipt riding on a segment request, as the parameter's value: the answer for the
   * RECEIPT_ANSWER_HEADER (`kept`, or `refused; reason=…`). Refusals never fail the segment itself.
   */
  async rode(playbackId: string, source: string, value: string): Promise<string> {
    try {
      const json = decodeReceiptParam(value);
      if (json === null) throw new CastnetError('BAD_REQUEST', `the ${RECEIPT_PARAM} parameter is not a receipt`, { playbackId, reason: 'malformed_receipt' });
      const r = parseRequest(signedReceiptSchema, json, 'receipt');
      const allowed = this.earnings.holds(playbackId, r) ? this.perSession.take(`${playbackId} ${r.receipt.session}`) : this.perSource.take(source);
      if (!allowed) throw rateLimited();
      await this.earnings.receive(playbackId, r);
      return 'kept';
    } catch (err) {
      if (!(err instanceof CastnetError)) throw err;
      const reason = typeof err.context.reason === 'string' ? err.context.reason : 'invalid_receipt';
      return `refused; reason=${reason}`;
    }
  }
}

function rateLimited(): CastnetError {
  return new CastnetError('RATE_LIMITED', 'too many receipts from this address: one every few seconds per session is enough', { reason: 'receipt_rate' });
}

const PARAM_PREFIX = `${RECEIPT_PARAM}=`;

/**
 * The receipt parameter's value in a request's query string, or null. Hot path (every segment request
 * with a query): a scan, not a URLSearchParams; the value is base64url, so it is taken as sent (one with
 * percent-escapes is no receipt, and decodeReceiptParam refuses it).
 */
export function receiptParamOf(query: string): string | null {
  let at = query.startsWith(PARAM_PREFIX) ? 0 : query.indexOf(`&${PARAM_PREFIX}`);
  if (at < 0) return null;
  if (query[at] === '&') at++;
  const start = at + PARAM_PREFIX.length;
  const end = query.indexOf('&', start);
  return query.slice(start, end < 0 ? undefined : end);
}
