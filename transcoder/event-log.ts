// The transcoder's log lines, written from its events rather than from the request path.
// A refused segment is the sender's problem, handled by the sender (new ticket parameters, another
// transcoder) and counted in castnet_transcoder_segments_transcoded_total{result}: it is logged as one
// line without a stack, at debug when anyone could cause it (garbage, forged or stale tickets), at info
// when a paying broadcaster should hear of it. Only what is wrong here warns: this node cannot learn a
// sender's funds (once per outage), an unexpected error, FFmpeg failing.

import { CastnetError } from '../protocol/errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { TranscoderEventBus } from './transcoder-events.ts';

/** Refusals the sender cures by itself (fresh ticket parameters), or that anyone can send: debug. */
const QUIET_PAYMENT_REASONS = new Set(['missing', 'malformed', 'bad_signature', 'expired', 'invalid_params', 'params_revealed', 'replayed_nonce', 'wrong_recipient']);
const QUIET_CODES = new Set(['BAD_REQUEST', 'INVALID_SEGMENT', 'PAYLOAD_TOO_LARGE']);

export function logTranscoderEvents(events: TranscoderEventBus, logger: Logger): void {
  // While the ledger (or chain) cannot be asked, every paid segment is refused: one warning, then debug.
  let fundsUnknown = false;
  events.on('paymentAccepted', () => {
    if (fundsUnknown) logger.info('senders\' funds can be learned again: paid segments are accepted');
    fundsUnknown = false;
  });
  events.on('segmentTranscoded', ({ playbackId, seq, seconds }) => logger.debug({ playbackId, seq, seconds: +seconds.toFixed(3) }, 'segment transcoded'));
  events.on('rejected', ({ playbackId, seq, err }) => {
    if (!(err instanceof CastnetError)) return logger.warn({ playbackId, seq, err }, 'segment refused');
    const reason = err.code === 'PAYMENT_REQUIRED' ? String(err.context['reason']) : undefined;
    const fields = { playbackId, seq, code: err.code, ...(reason ? { reason } : {}) };
    const message = `segment refused: ${err.message}`;
    if (reason === 'funds_unknown') {
      if (fundsUnknown) return logger.debug(fields, message);
      fundsUnknown = true;
      return logger.warn(fields, `${message}; every paid segment is refused until they can be`);
    }
    if (QUIET_CODES.has(err.code) || (reason !== undefined && QUIET_PAYMENT_REASONS.has(reason))) return logger.debug(fields, message);
    logger.info(fields, message);
  });
  events.on('transcodeFailed', ({ playbackId, seq, err }) => logger.warn({ playbackId, seq, err }, 'transcode failed'));
  events.on('redemption', (r) => {
    if (r.outcome === 'redeemed') logger.info({ ticketHash: r.ticketHash, paid: String(r.paid) }, 'winning ticket redeemed');
    else logger.warn({ ticketHash: r.ticketHash, outcome: r.outcome, err: r.error }, 'ticket redemption did not succeed');
  });
}
