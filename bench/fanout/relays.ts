// bench/fanout's relay process: an origin and three edges pulling from it, plus a pusher that publishes a
// synthetic segment to the origin every two seconds. Prints its URLs as one JSON line, then runs until killed.

import { createRelay } from '../../relay/relay.ts';
import { silentLogger } from '../../observability/logger.ts';
import { segmentMetadataHeaders } from '../../protocol/segment-metadata.ts';

const SEGMENT_BYTES = 188 * 400; // ~75 KB: a 300 kb/s rendition, so the bench measures the relays, not loopback copies
const origin = await createRelay({ httpPort: 0, dataDir: null, orchestrator: null, discoverParents: false }, { logger: silentLogger });
await origin.start();
const edges = await Promise.all([0, 1, 2].map(() => createRelay({ httpPort: 0, dataDir: null, orchestrator: null, discoverParents: false, parents: [origin.url] }, { logger: silentLogger })));
await Promise.all(edges.map((e) => e.start()));
await fetch(`${origin.url}/hls/fan`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ targetDuration: 2, variants: [{ name: 'source', width: 640, height: 360, bandwidth: 300_000, codecs: 'avc1.64001e' }] }) });
const body = new Uint8Array(SEGMENT_BYTES);
for (let i = 0; i < SEGMENT_BYTES; i += 188) body[i] = 0x47;
let seq = 0;
async function pushOne(): Promise<void> {
  await fetch(`${origin.url}/hls/fan/source/${seq}.ts`, { method: 'PUT', headers: segmentMetadataHeaders({ duration: 2, programDateTime: new Date().toISOString(), discontinuity: false }), body });
  seq++;
}
for (let i = 0; i < 3; i++) await pushOne();
setInterval(() => void pushOne(), 2_000);
console.log(JSON.stringify({ origin: origin.url, edges: edges.map((e) => e.url) }));
