// bench/fanout's relay process: an origin and three edges pulling from it, plus a pusher that publishes a
// synthetic segment to the origin every two seconds. Prints its URLs and the segment size as one JSON line,
// then runs until killed; a refused push ends it with status 1, so the bench sees the stream stop.

import { createRelay } from '../../relay/relay.ts';
import { silentLogger } from '../../observability/logger.ts';
import { segmentMetadataHeaders } from '../../protocol/segment-metadata.ts';

const SEGMENT_BYTES = 188 * 400; // ~75 KB: a 300 kb/s rendition, so the bench measures the relays, not loopback copies
// Every simulated viewer comes from 127.0.0.1: the per-address connection cap, which bounds strangers, is lifted.
const VIEWERS_ON_ONE_ADDRESS = { httpMaxConnectionsPerIp: 100_000 };
const origin = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, ...VIEWERS_ON_ONE_ADDRESS }, { logger: silentLogger });
await origin.start();
const edges = await Promise.all([0, 1, 2].map(() => createRelay({ httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, parents: [origin.url], ...VIEWERS_ON_ONE_ADDRESS }, { logger: silentLogger })));
await Promise.all(edges.map((e) => e.start()));
async function put(url: string, init: RequestInit): Promise<void> {
  const res = await fetch(url, { method: 'PUT', ...init });
  if (!res.ok) throw new Error(`PUT ${url}: ${res.status} ${await res.text()}`);
}
await put(`${origin.url}/hls/fan`, { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ targetDuration: 2, variants: [{ name: 'source', width: 640, height: 360, bandwidth: 300_000, codecs: 'avc1.64001e' }] }) });
const body = new Uint8Array(SEGMENT_BYTES);
for (let i = 0; i < SEGMENT_BYTES; i += 188) body[i] = 0x47;
let seq = 0;
async function pushOne(): Promise<void> {
  await put(`${origin.url}/hls/fan/source/${seq}.ts`, { headers: segmentMetadataHeaders({ duration: 2, programDateTime: new Date().toISOString(), discontinuity: false }), body });
  seq++;
}
for (let i = 0; i < 3; i++) await pushOne();
setInterval(() => {
  pushOne().catch((err: Error) => {
    console.error(`bench/fanout pusher: ${err.message}`);
    process.exit(1);
  });
}, 2_000);
console.log(JSON.stringify({ origin: origin.url, edges: edges.map((e) => e.url), segmentBytes: SEGMENT_BYTES }));
