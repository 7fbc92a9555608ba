// The transcoder's Prometheus metrics, counted from its events.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { TranscoderEventBus } from './transcoder-events.ts';

export function createTranscoderMetrics(registry: Registry, state: { inFlight: () => number; queued?: () => Record<string, number> }) {
  return {
    segmentsTranscoded: new Counter({
      name: 'castnet_transcoder_segments_transcoded_total',
      help: 'Segments transcoded, by result (ok, or the error code)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    transcodeSeconds: new Histogram({
      name: 'castnet_transcoder_transcode_seconds',
      help: 'Wall time of the FFmpeg job that produced each rendition (one job makes every rendition of a segment)',
      labelNames: ['rendition', 'encoder'] as const,
      buckets: [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'castnet_transcoder_segments_in_flight',
      help: 'Segments being transcoded now',
      registers: [registry],
      collect() {
        this.set(state.inFlight());
      },
    }),
    bytesIn: new Counter({ name: 'castnet_transcoder_bytes_received_total', help: 'Source segment bytes received', registers: [registry] }),
    bytesOut: new Counter({ name: 'castnet_transcoder_bytes_returned_total', help: 'Rendition bytes returned', registers: [registry] }),
    ticketsReceived: new Counter({ name: 'castnet_transcoder_tickets_received_total', help: 'Tickets accepted with segments', registers: [registry] }),
    winningTickets: new Counter({ name: 'castnet_transcoder_winning_tickets_total', help: 'Accepted tickets that won', registers: [registry] }),
    expectedValue: new Counter({ name: 'castnet_transcoder_expected_value_received_wei_total', help: 'Expected value of accepted tickets, in wei', registers: [registry] }),
    priceCharged: new Counter({ name: 'castnet_transcoder_price_charged_wei_total', help: 'Price of the segments accepted for work (output pixels × price per pixel), in wei', registers: [registry] }),
    paymentsRefused: new Counter({ name: 'castnet_transcoder_payments_refused_total', help: 'Segments refused with 402, by reason', labelNames: ['reason'] as const, registers: [registry] }),
    redemptions: new Counter({ name: 'castnet_transcoder_redemptions_total', help: 'Redemption attempts, by outcome (redeemed, failed, retry)', labelNames: ['outcome'] as const, registers: [registry] }),
    faceValueRedeemed: new Counter({ name: 'castnet_transcoder_face_value_redeemed_wei_total', help: 'Amount paid for redeemed winners (ledger or chain), in wei', registers: [registry] }),
    winnersQueued: new Gauge({
      name: 'castnet_transcoder_winning_tickets_queued',
      help: 'Winning tickets in the redemption queue, by status (pending, sent: in a transaction not yet confirmed, redeemed, failed)',
      labelNames: ['status'] as const,
      registers: [registry],
      collect() {
        const counts = state.queued?.() ?? {};
        for (const status of ['pending', 'sent', 'redeemed', 'failed']) this.set({ status }, counts[status] ?? 0);
      },
    }),
  };
}

export type TranscoderMetrics = ReturnType<typeof createTranscoderMetrics>;

/** Counts what the transcoder reports on its event bus. */
export function countTranscoderEvents(events: TranscoderEventBus, metrics: TranscoderMetrics): void {
  events.on('rejected', ({ reason }) => metrics.segmentsTranscoded.inc({ result: reason }));
  events.on('transcodeFailed', ({ reason }) => metrics.segmentsTranscoded.inc({ result: reason }));
  events.on('paymentRefused', ({ reason }) => metrics.paymentsRefused.inc({ reason }));
  events.on('paymentAccepted', ({ tickets, winners, expectedValue, price }) => {
    metrics.ticketsReceived.inc(tickets);
    metrics.winningTickets.inc(winners);
    metrics.expectedValue.inc(Number(expectedValue));
    metrics.priceCharged.inc(Number(price));
  });
  events.on('transcodeStarted', ({ bytes }) => metrics.bytesIn.inc(bytes));
  events.on('segmentTranscoded', ({ seconds, renditions, encoder, bytes }) => {
    for (const rendition of renditions) metrics.transcodeSeconds.observe({ rendition, encoder }, seconds);
    metrics.segmentsTranscoded.inc({ result: 'ok' });
    metrics.bytesOut.inc(bytes);
  });
  events.on('redemption', (r) => {
    metrics.redemptions.inc({ outcome: r.outcome });
    if (r.outcome === 'redeemed') metrics.faceValueRedeemed.inc(Number(r.paid ?? 0n));
  });
}
