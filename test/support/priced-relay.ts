// Test support for paid delivery: a real relay priced at 1 wei per byte, on loopback, serving one signed
// MPEG-TS segment (`paid/source/0.ts`, sync bytes only: enough for the relay, which checks packets, not
// pictures). The delivery terms name `payer`, reached at `payerUrl()` (read at each lookup, so a test can
// start its payer after the relay). Used by relay/receipt-intake.test.ts and player/receipts.test.ts.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { RelayClient } from '../../broadcaster/node-clients.ts';
import { silentLogger } from '../../observability/logger.ts';
import { identityFromPrivateKey } from '../../protocol/identity.ts';
import { signSegmentBytes } from '../../protocol/segment-signing.ts';
import { createRelay, type Relay } from '../../relay/relay.ts';

/** `packets` MPEG-TS packets holding only their sync byte. */
export function syncOnlySegment(packets: number): Buffer {
  const segment = Buffer.alloc(188 * packets);
  for (let i = 0; i < segment.length; i += 188) segment[i] = 0x47;
  return segment;
}

export interface PricedRelay {
  relay: Relay;
  segment: Buffer;
  segmentUrl: string;
}

export async function startPricedRelay(options: { payer: string; payerUrl: () => string; packets: number; now?: () => number }): Promise<PricedRelay> {
  const relay = await createRelay(
    { httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, pricePerByte: 1n, claimIntervalMs: 600_000 },
    { logger: silentLogger, ...(options.now ? { now: options.now } : {}), deliveryLookup: async () => ({ payer: options.payer, url: options.payerUrl(), maxPricePerByte: '10' }) },
  );
  await relay.start();
  const segment = syncOnlySegment(options.packets);
  const publisher = identityFromPrivateKey(secp256k1.utils.randomSecretKey());
  const client = new RelayClient();
  await client.pushDescriptor(relay.url, { playbackId: 'paid', targetDuration: 2, variants: [{ name: 'source', width: 640, height: 360, bandwidth: 1e6, codecs: 'avc1.64001f,mp4a.40.2' }] }, publisher);
  const meta = { duration: 2, programDateTime: new Date().toISOString(), discontinuity: false };
  await client.pushSegment(relay.url, 'paid', 'source', 0, meta, segment, signSegmentBytes(publisher.privateKey, { playbackId: 'paid', rendition: 'source', seq: 0 }, meta, segment));
  return { relay, segment, segmentUrl: `${relay.url}/hls/paid/source/0.ts` };
}
