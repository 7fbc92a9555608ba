// The transcoder's log lines, written from its events rather than from the request path.

import type { Logger } from '../observability/logger.ts';
import type { TranscoderEventBus } from './transcoder-events.ts';

export function logTranscoderEvents(events: TranscoderEventBus, logger: Logger): void {
  events.on('segmentTranscoded', ({ playbackId, seq, seconds }) => logger.debug({ playbackId, seq, seconds: +seconds.toFixed(3) }, 'segment transcoded'));
  events.on('rejected', ({ playbackId, seq, err }) => logger.warn({ playbackId, seq, err }, 'segment refused'));
  events.on('transcodeFailed', ({ playbackId, seq, err }) => logger.warn({ playbackId, seq, err }, 'segment refused'));
  events.on('redemption', (r) => {
    if (r.outcome === 'redeemed') logger.info({ ticketHash: r.ticketHash, paid: String(r.paid) }, 'winning ticket redeemed');
    else logger.warn({ ticketHash: r.ticketHash, outcome: r.outcome, err: r.error }, 'ticket redemption did not succeed');
  });
}
