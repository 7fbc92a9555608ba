// The relay's Prometheus metrics.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { StreamStatsSnapshot } from './stream-stats.ts';

export function createRelayMetrics(registry: Registry, state: { streams: () => number; bytesHeld: () => number; perStream: () => StreamStatsSnapshot[]; unpaidStreams?: () => number; recordingBytes?: () => number }) {
  /** A gauge per stream, read from the stats at scrape time (streams that ended drop out). */
  const perStream = (name: string, help: string, value: (s: StreamStatsSnapshot) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['playback_id'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of state.perStream()) this.set({ playback_id: s.playbackId }, value(s));
      },
    });
  return {
    requests: new Counter({
      name: 'castnet_relay_http_requests_total',
      help: 'HTTP requests served, by kind of object and status',
      labelNames: ['kind', 'status'] as const,
      registers: [registry],
    }),
    cache: new Counter({
      name: 'castnet_relay_cache_requests_total',
      help: 'Segment lookups, by result (hit: served from memory; miss: pulled from a parent, or not held)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    bytesServed: new Counter({ name: 'castnet_relay_bytes_served_total', help: 'Segment bytes sent to clients', registers: [registry] }),
    upstreamBytes: new Counter({ name: 'castnet_relay_upstream_bytes_total', help: 'Bytes pulled from parent relays, by kind', labelNames: ['kind'] as const, registers: [registry] }),
    upstreamRequests: new Counter({ name: 'castnet_relay_upstream_requests_total', help: 'Requests made to parent relays, by kind', labelNames: ['kind'] as const, registers: [registry] }),
    partsReceived: new Counter({ name: 'castnet_relay_parts_received_total', help: 'Low-latency parts pushed to this relay', registers: [registry] }),
    segmentsReceived: new Counter({ name: 'castnet_relay_segments_received_total', help: 'Segments pushed to this relay', registers: [registry] }),
    refused: new Counter({
      name: 'castnet_relay_refused_total',
      help: 'Pushes refused by a limit of this relay, by reason (streams, renditions, bytes, seq_ahead)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    contentRefused: new Counter({
      name: 'castnet_relay_content_refused_total',
      help: "Segments and publisher requests refused as not the stream's publisher's, by where they came from (push: a broadcaster; parent: an edge's parent) and reason (unsigned, signature_malformed, wrong_signer, publisher_unknown, out_of_window, signature_missing, signature_stale, signature_replayed, signature_invalid)",
      labelNames: ['from', 'reason'] as const,
      registers: [registry],
    }),
    playbackRefused: new Counter({
      name: 'castnet_relay_playback_refused_total',
      help: 'Viewer requests of signed streams refused, and playback policies refused, by reason (token_missing, token_expired, token_invalid, wrong_playback_id, policy_forged)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    outboundRefused: new Counter({
      name: 'castnet_relay_outbound_refused_total',
      help: 'Requests to parent relays not made or not followed, by reason (private_address, redirect, url_userinfo, url_scheme)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    activeStreams: new Gauge({
      name: 'castnet_relay_active_streams',
      help: 'Streams held by this relay (pushed here, or pulled and watched)',
      registers: [registry],
      collect() {
        this.set(state.streams());
      },
    }),
    bytesHeld: new Gauge({
      name: 'castnet_relay_cache_bytes',
      help: 'Segment bytes held in memory',
      registers: [registry],
      collect() {
        this.set(state.bytesHeld());
      },
    }),
    deliveryReceipts: new Counter({
      name: 'castnet_relay_delivery_receipts_total',
      help: "Receipts players and edges sent, by result (kept, or why refused: wrong_relay, bad_signature, bad_certificate, wrong_payer, regressed, replayed, …; dropped_forged: a held unverified receipt found forged)",
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    deliveryClaims: new Counter({ name: 'castnet_relay_delivery_claims_total', help: "Claims sent to streams' payers, by result (paid, or why not)", labelNames: ['result'] as const, registers: [registry] }),
    deliveryCredited: new Counter({ name: 'castnet_relay_delivery_credited_bytes_total', help: 'Bytes payers credited this relay for', registers: [registry] }),
    deliveryPaid: new Counter({ name: 'castnet_relay_delivery_paid_wei_total', help: 'Expected value of the tickets payers paid this relay for delivery, in wei', registers: [registry] }),
    deliveryRedemptions: new Counter({ name: 'castnet_relay_delivery_redemptions_total', help: 'Winning delivery tickets redeemed at the settlement, by outcome', labelNames: ['outcome'] as const, registers: [registry] }),
    deliveryRefusedByPayer: new Counter({ name: 'castnet_relay_delivery_refused_by_payer_total', help: 'Receipts the payer credited nothing for, by its reason', labelNames: ['reason'] as const, registers: [registry] }),
    edgeReceipts: new Counter({ name: 'castnet_relay_edge_receipts_total', help: 'Receipts this edge sent its parents for what it pulled, by result', labelNames: ['result'] as const, registers: [registry] }),
    unpaidStreams: new Gauge({
      name: 'castnet_relay_unpaid_streams',
      help: 'Streams whose payer is not paying for what this relay delivered (claims failing or underpaid)',
      registers: [registry],
      collect() {
        this.set(state.unpaidStreams?.() ?? 0);
      },
    }),
    recordingBytes: new Gauge({
      name: 'castnet_relay_recording_bytes',
      help: 'Bytes of recordings on disk (within --recording-bytes)',
      registers: [registry],
      collect() {
        this.set(state.recordingBytes?.() ?? 0);
      },
    }),
    recordingsDeleted: new Counter({ name: 'castnet_relay_recordings_deleted_total', help: 'Recordings deleted to stay within --recording-bytes or --max-recordings', registers: [registry] }),
    thumbnails: new Counter({ name: 'castnet_relay_thumbnails_total', help: 'Thumbnails made, by result (ok, failed)', labelNames: ['result'] as const, registers: [registry] }),
    streamViewers: perStream('castnet_relay_stream_viewers', 'Distinct viewer sessions per stream in the last window', (x) => x.viewers),
    streamBytesServed: perStream('castnet_relay_stream_bytes_served', 'Segment bytes served per stream since it appeared here', (x) => x.bytesServed),
    streamHitRatio: perStream('castnet_relay_stream_cache_hit_ratio', 'Share of segment requests per stream served from memory', (x) => x.hitRatio),
    streamUpstreamBytes: perStream('castnet_relay_stream_upstream_bytes', 'Bytes pulled from parents per stream since it appeared here', (x) => x.upstreamBytes),
  };
}

export type RelayMetrics = ReturnType<typeof createRelayMetrics>;
