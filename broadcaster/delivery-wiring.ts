// Feeds the delivery payer what this broadcaster publishes: each stream is opened with it, every segment
// published to the origin relay is weighed (its duration from ingest), and a closed stream is forgotten
// only after the claim grace, so relays can still claim the last receipts of its viewers (streams remembered
// from before a restart get the same grace).

import { CLAIM_GRACE_MS, type DeliveryPayer } from './delivery-payer.ts';
import type { LiveStreams } from './live-streams.ts';

export function attachDelivery(streams: LiveStreams, payer: DeliveryPayer): void {
  const closing = new Map<string, NodeJS.Timeout>();
  const closeLater = (playbackId: string) => {
    const timer = setTimeout(() => {
      closing.delete(playbackId);
      payer.close(playbackId);
    }, CLAIM_GRACE_MS);
    timer.unref();
    closing.set(playbackId, timer);
  };
  // Streams the last run remembered: their viewers' receipts are claimable for the grace, or for as long as
  // the stream goes on once its publisher is back.
  for (const playbackId of payer.streamIds()) closeLater(playbackId);
  streams.on('opened', ({ playbackId, pipeline }) => {
    clearTimeout(closing.get(playbackId));
    closing.delete(playbackId);
    payer.open(playbackId);
    const durations = new Map<number, number>();
    pipeline.on('segmentIngested', ({ seq, duration }) => {
      durations.set(seq, duration);
      // Renditions of a segment are published within a few segments of its ingest.
      durations.delete(seq - 64);
    });
    pipeline.on('segmentPublished', ({ rendition, seq, bytes }) => payer.published(playbackId, rendition, seq, bytes, durations.get(seq) ?? 0));
  });
  streams.on('closed', ({ playbackId }) => closeLater(playbackId));
}
