// The broadcaster's Prometheus metrics, and the listener that keeps them from a stream pipeline's events.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { StreamPipeline } from './stream-pipeline.ts';

export function createBroadcasterMetrics(registry: Registry) {
  return {
    deliverySessions: new Counter({ name: 'castnet_broadcaster_delivery_sessions_total', help: 'Viewer sessions certified for players (paid delivery)', registers: [registry] }),
    deliveryCredited: new Counter({ name: 'castnet_broadcaster_delivery_credited_bytes_total', help: "Bytes relays were credited for from viewers' and edges' receipts", registers: [registry] }),
    deliveryRefused: new Counter({ name: 'castnet_broadcaster_delivery_receipts_refused_total', help: 'Receipts refused in relays\' claims, by reason', labelNames: ['reason'] as const, registers: [registry] }),
    segmentsIngested: new Counter({ name: 'castnet_broadcaster_segments_ingested_total', help: 'Source segments cut from RTMP ingest', registers: [registry] }),
    segmentLatency: new Histogram({
      name: 'castnet_broadcaster_segment_latency_seconds',
      help: 'From a segment being complete at ingest to its publication at the relay, by rendition',
      labelNames: ['rendition'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
      registers: [registry],
    }),
    transcodeFailures: new Counter({
      name: 'castnet_broadcaster_transcode_failures_total',
      help: 'Segments whose renditions were not published, by reason (backlog, late, no_transcoder, payment_refused, transcoder_error, unprobeable)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    verifications: new Counter({
      name: 'castnet_broadcaster_output_verifications_total',
      help: 'Sampled transcoder answers compared with the source (SSIM), by result (passed, failed: not published, the node reported with verification_failed)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    verificationSeconds: new Histogram({
      name: 'castnet_broadcaster_output_verification_seconds',
      help: "Time to compare one sampled answer's renditions with the source",
      buckets: [0.1, 0.25, 0.5, 1, 2, 4, 8],
      registers: [registry],
    }),
    partFailures: new Counter({ name: 'castnet_broadcaster_part_push_failures_total', help: 'Low-latency parts that did not reach the relay, by reason (backlog, no_relay, refused, after_missing)', labelNames: ['reason'] as const, registers: [registry] }),
    publishFailures: new Counter({ name: 'castnet_broadcaster_relay_push_failures_total', help: 'Segment pushes the relay did not accept', registers: [registry] }),
    cutterDied: new Counter({ name: 'castnet_broadcaster_cutter_died_total', help: 'segment cutters that exited while their streamer was sending (the streamer is disconnected to reconnect)', registers: [registry] }),
    publishes: new Counter({ name: 'castnet_broadcaster_publishes_total', help: 'RTMP publishes accepted (first publishes, reconnects and takeovers)', registers: [registry] }),
    publishRefused: new Counter({ name: 'castnet_broadcaster_publish_refused_total', help: 'RTMP publishes refused', labelNames: ['reason'] as const, registers: [registry] }),
    ticketsSent: new Counter({ name: 'castnet_broadcaster_tickets_sent_total', help: 'Tickets signed and sent with segments', registers: [registry] }),
    expectedValueSent: new Counter({ name: 'castnet_broadcaster_expected_value_sent_wei_total', help: 'Expected value of tickets sent, in wei', registers: [registry] }),
    paymentsRefused: new Counter({ name: 'castnet_broadcaster_payments_refused_total', help: 'Segments a transcoder refused with 402, by reason', labelNames: ['reason'] as const, registers: [registry] }),
    activeStreams: new Gauge({ name: 'castnet_broadcaster_active_streams', help: 'RTMP publications in progress', registers: [registry] }),
    deposit: new Gauge({ name: 'castnet_broadcaster_deposit_wei', help: "The broadcaster's deposit at its settlement (ledger or chain) when last read, in wei", registers: [registry] }),
    reserve: new Gauge({ name: 'castnet_broadcaster_reserve_wei', help: "The broadcaster's reserve at its settlement when last read, in wei", registers: [registry] }),
    outboundRefused: new Counter({
      name: 'castnet_broadcaster_outbound_refused_total',
      help: 'Requests to transcoders and relays not made or not followed, by reason (private_address, redirect, url_userinfo, url_scheme)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    rtmpRefused: new Counter({
      name: 'castnet_broadcaster_rtmp_refused_total',
      help: 'RTMP connections refused or closed, and publishes refused, by the limit or protocol rule that did it',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
  };
}

export type BroadcasterMetrics = ReturnType<typeof createBroadcasterMetrics>;

/** Counts what a stream's pipeline reports. Hot path: runs per segment. */
export function meterPipeline(pipeline: StreamPipeline, metrics: BroadcasterMetrics): void {
  pipeline.on('segmentIngested', () => metrics.segmentsIngested.inc());
  pipeline.on('segmentPublished', (e) => metrics.segmentLatency.observe({ rendition: e.rendition }, e.latencyS));
  pipeline.on('publishFailed', () => metrics.publishFailures.inc());
  pipeline.on('partFailed', (e) => metrics.partFailures.inc({ reason: e.reason }));
  pipeline.on('transcodeFailed', (e) => metrics.transcodeFailures.inc({ reason: e.reason }));
  pipeline.on('outputRejected', () => metrics.transcodeFailures.inc({ reason: 'bad_output' }));
  pipeline.on('outputVerified', (e) => {
    metrics.verifications.inc({ result: e.passed ? 'passed' : 'failed' });
    metrics.verificationSeconds.observe(e.ms / 1000);
  });
  pipeline.on('paymentRefused', (e) => metrics.paymentsRefused.inc({ reason: e.reason }));
  pipeline.on('ticketsSent', (e) => {
    metrics.ticketsSent.inc(e.tickets);
    metrics.expectedValueSent.inc(Number(e.expectedValue));
  });
}
