// bench/fanout's relay process: an origin and three edges pulling from it, plus a pusher that publishes a
// synthetic segment to the origin every two seconds. Prints its URLs and the segment size as one JSON line,
// then runs until killed; a refused push ends it with status 1, so the bench sees the stream stop.
// With `--receipts <payer address>` every relay charges 1 wei per byte and takes that payer's viewer
// receipts (its terms are given; claims go to a port nothing listens on), and the edges sign receipts to
// the origin for what they pull; the JSON line then also names the edges' payment addresses.

import { createRelay } from '../../relay/relay.ts';
import { silentLogger } from '../../observability/logger.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { RelayClient } from '../../broadcaster/node-clients.ts';
import { identityFromPrivateKey } from '../../protocol/identity.ts';
import { signSegmentBytes } from '../../protocol/segment-signing.ts';

const SEGMENT_BYTES = 188 * 400; // ~75 KB: a 300 kb/s rendition, so the bench measures the relays, not loopback copies
// Every simulated viewer comes from 127.0.0.1: the per-address connection cap, which bounds strangers, is lifted.
const VIEWERS_ON_ONE_ADDRESS = { httpMaxConnectionsPerIp: 100_000 };
const receiptsAt = process.argv.indexOf('--receipts');
const payer = receiptsAt >= 0 ? process.argv[receiptsAt + 1] : undefined;
if (receiptsAt >= 0 && !/^0x[0-9a-f]{40}$/.test(payer ?? '')) throw new Error('--receipts needs the payer address');
const priced = payer ? { pricePerByte: 1n, claimIntervalMs: 5_000 } : {};
const components = { logger: silentLogger, ...(payer ? { deliveryLookup: async () => ({ payer, url: 'http://127.0.0.1:9', maxPricePerByte: '10' }) } : {}) };
const origin = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, ...VIEWERS_ON_ONE_ADDRESS, ...priced }, components);
await origin.start();
const edges = await Promise.all([0, 1, 2].map(() => createRelay({ httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, parents: [origin.url], ...VIEWERS_ON_ONE_ADDRESS, ...priced }, components)));
await Promise.all(edges.map((e) => e.start()));
// Pushed as a broadcaster pushes: a signed descriptor, and each segment with its publisher's signature.
const publisher = identityFromPrivateKey(secp256k1.utils.randomSecretKey());
const client = new RelayClient();
await client.pushDescriptor(origin.url, { playbackId: 'fan', targetDuration: 2, variants: [{ name: 'source', width: 640, height: 360, bandwidth: 300_000, codecs: 'avc1.64001e' }] }, publisher);
const body = Buffer.alloc(SEGMENT_BYTES);
for (let i = 0; i < SEGMENT_BYTES; i += 188) body[i] = 0x47;
let seq = 0;
async function pushOne(): Promise<void> {
  const meta = { duration: 2, programDateTime: new Date().toISOString(), discontinuity: false };
  await client.pushSegment(origin.url, 'fan', 'source', seq, meta, body, signSegmentBytes(publisher.privateKey, { playbackId: 'fan', rendition: 'source', seq }, meta, body));
  seq++;
}
for (let i = 0; i < 3; i++) await pushOne();
setInterval(() => {
  pushOne().catch((err: Error) => {
    console.error(`bench/fanout pusher: ${err.message}`);
    process.exit(1);
  });
}, 2_000);
console.log(JSON.stringify({ origin: origin.url, edges: edges.map((e) => e.url), edgeAddresses: edges.map((e) => e.paymentAddress), segmentBytes: SEGMENT_BYTES }));
