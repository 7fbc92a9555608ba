// bench/fanout's relay process: an origin and three edges pulling from it, plus a pusher that publishes a
// synthetic segment to the origin every two seconds. Prints its URLs and the segment size as one JSON line,
// then runs until killed; a refused push ends it with status 1, so the bench sees the stream stop.
// With `--receipts <payer address>` every relay charges 1 wei per byte and takes that payer's viewer
// receipts (its terms are given; claims go to a port nothing listens on), and the edges sign receipts to
// the origin for what they pull; the JSON line then also names the edges' payment addresses.
// With `--parts <part target s>` the stream is low-latency CMAF: a real FFmpeg test pattern (640x360 30 fps,
// 2 s GOP, AAC audio, paced at real time) cut into parts by the broadcaster's cutter (broadcaster/cmaf-cutter.ts)
// and pushed to the origin as a broadcaster pushes them: the signed init, each part the moment it is cut, then
// the whole segment. After each part the origin took, one JSON line `{"part":"<seq>.<n>","bytes":…,"at":…}`
// (`at`: epoch ms with sub-ms precision, the moment the origin answered) lets the bench time each part to its
// viewers and check its bytes.
// `--edges <n>` (default 3) sets how many edges run in this process; `--edge-of <origin url>` runs one edge of
// that origin and no origin or pusher, for the bench's `--edge-processes` (each edge a process, as deployed):
// it prints `{"edge":…,"edgeAddress":…}` and runs until killed.

import { createRelay } from '../../relay/relay.ts';
import { silentLogger } from '../../observability/logger.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { RelayClient } from '../../broadcaster/node-clients.ts';
import { identityFromPrivateKey } from '../../protocol/identity.ts';
import { sha256, signSegmentBytes } from '../../protocol/segment-signing.ts';
import { spawn } from 'node:child_process';
import { CmafCutter } from '../../broadcaster/cmaf-cutter.ts';
import { ffmpegBinaries } from '../../media/ffmpeg-binaries.ts';
import { testPatternArgs } from '../../media/test-pattern.ts';
import { initHeaders, partHeaders } from '../../protocol/part-metadata.ts';
import { signInit, signPart } from '../../protocol/part-signature.ts';
import { signedSegmentHeaders } from '../../protocol/segment-metadata.ts';

const SEGMENT_BYTES = 188 * 400; // ~75 KB: a 300 kb/s rendition, so the bench measures the relays, not loopback copies
// Every simulated viewer comes from 127.0.0.1: the per-address connection cap, which bounds strangers, is lifted.
const VIEWERS_ON_ONE_ADDRESS = { httpMaxConnectionsPerIp: 100_000 };
const receiptsAt = process.argv.indexOf('--receipts');
const payer = receiptsAt >= 0 ? process.argv[receiptsAt + 1] : undefined;
if (receiptsAt >= 0 && !/^0x[0-9a-f]{40}$/.test(payer ?? '')) throw new Error('--receipts needs the payer address');
const partsAt = process.argv.indexOf('--parts');
const partTarget = partsAt >= 0 ? Number(process.argv[partsAt + 1]) : null;
if (partTarget !== null && !(partTarget >= 0.2 && partTarget <= 1)) throw new Error('--parts needs a part target in seconds (0.2–1)');
const priced = payer ? { pricePerByte: 1n, claimIntervalMs: 5_000 } : {};
const components = { logger: silentLogger, ...(payer ? { deliveryLookup: async () => ({ payer, url: 'http://127.0.0.1:9', maxPricePerByte: '10' }) } : {}) };
const edgeOfAt = process.argv.indexOf('--edge-of');
const edgeOf = edgeOfAt >= 0 ? process.argv[edgeOfAt + 1] : undefined;
if (edgeOfAt >= 0 && !/^http:\/\/127\.0\.0\.1:\d+$/.test(edgeOf ?? '')) throw new Error('--edge-of needs the origin URL (http://127.0.0.1:<port>)');
const edgesAt = process.argv.indexOf('--edges');
const edgeCount = edgesAt >= 0 ? Number(process.argv[edgesAt + 1]) : 3;
if (!Number.isInteger(edgeCount) || edgeCount < 0 || edgeCount > 16) throw new Error('--edges needs a whole number from 0 to 16');
const edgeOfParent = (parent: string) => createRelay({ httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, parents: [parent], ...VIEWERS_ON_ONE_ADDRESS, ...priced }, components);
if (edgeOf) {
  const edge = await edgeOfParent(edgeOf);
  await edge.start();
  process.once('SIGTERM', () => process.exit(0));
  console.log(JSON.stringify({ edge: edge.url, edgeAddress: edge.paymentAddress }));
  // Serves until the bench kills it: the open server keeps the process alive.
  await new Promise(() => undefined);
}
const origin = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, ...VIEWERS_ON_ONE_ADDRESS, ...priced }, components);
await origin.start();
const edges = await Promise.all(Array.from({ length: edgeCount }, () => edgeOfParent(origin.url)));
await Promise.all(edges.map((e) => e.start()));
// Pushed as a broadcaster pushes: a signed descriptor, and each segment with its publisher's signature.
const publisher = identityFromPrivateKey(secp256k1.utils.randomSecretKey());
const client = new RelayClient();
/** The one line the bench waits for: where the relays are, and what the stream is. */
const announce = (stream: { segmentBytes: number } | { partTarget: number }) =>
  console.log(JSON.stringify({ origin: origin.url, edges: edges.map((e) => e.url), edgeAddresses: edges.map((e) => e.paymentAddress), ...stream }));
const fail = (what: string) => (err: Error) => {
  console.error(`bench/fanout pusher: ${what}: ${err.message}`);
  process.exit(1);
};
if (partTarget === null) {
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
  setInterval(() => void pushOne().catch(fail('segment')), 2_000);
  announce({ segmentBytes: SEGMENT_BYTES });
} else {
  await client.pushDescriptor(origin.url, { playbackId: 'fan', targetDuration: 2, variants: [{ name: 'source', width: 640, height: 360, bandwidth: 500_000, codecs: 'avc1.64001e,mp4a.40.2' }] }, publisher);
  const cutter = new CmafCutter({ segmentSeconds: 2, partTargetSeconds: partTarget, logger: silentLogger });
  const camera = spawn(ffmpegBinaries().ffmpeg, testPatternArgs({ width: 640, height: 360, fps: 30, seconds: 0, output: 'pipe:1', realtime: true, videoBitrate: '400k' }), { stdio: ['ignore', 'pipe', 'inherit'] });
  let stopping = false;
  camera.on('exit', (code, signal) => stopping || fail('the test pattern')(new Error(`FFmpeg exited (${code ?? signal})`)));
  // Killed by the bench: the camera goes first, so it does not report the pipe it writes to closing.
  process.once('SIGTERM', () => {
    stopping = true;
    cutter.kill();
    camera.kill('SIGKILL');
    process.exit(0);
  });
  camera.stdout!.pipe(cutter.input);
  cutter.on('error', fail('the CMAF cutter'));
  // In order, as the broadcaster pushes a rendition: one chain, each push after the one before.
  let chain: Promise<void> = Promise.resolve();
  const started = Date.now();
  let announced = false;
  const after = (what: string, push: () => Promise<void>) => {
    chain = chain.then(push).catch(fail(what));
  };
  cutter.on('init', (init) =>
    after('init', () => client.pushCmaf(origin.url, 'fan', 'source', 'init-0.mp4', initHeaders(partTarget, signInit({ playbackId: 'fan', rendition: 'source', seq: 0, partTarget, sha256: sha256(init) }, publisher.privateKey)), init)),
  );
  cutter.on('part', (p) =>
    after(`part ${p.index}.${p.part}`, async () => {
      const meta = { duration: p.duration, independent: p.independent };
      await client.pushCmaf(origin.url, 'fan', 'source', `${p.index}.${p.part}.m4s`, partHeaders(meta, signPart({ playbackId: 'fan', rendition: 'source', seq: p.index, part: p.part, ...meta, sha256: sha256(p.bytes) }, publisher.privateKey)), p.bytes);
      if (announced) console.log(JSON.stringify({ part: `${p.index}.${p.part}`, bytes: p.bytes.length, at: performance.timeOrigin + performance.now() }));
    }),
  );
  cutter.on('segment', (seg) =>
    after(`segment ${seg.index}`, async () => {
      const meta = { duration: seg.duration, programDateTime: new Date(started + seg.start * 1000).toISOString(), discontinuity: false };
      await client.pushCmaf(origin.url, 'fan', 'source', `${seg.index}.m4s`, signedSegmentHeaders({ ...meta, signature: signSegmentBytes(publisher.privateKey, { playbackId: 'fan', rendition: 'source', seq: seg.index }, meta, seg.bytes) }), seg.bytes);
      // Three whole segments at the origin before viewers come, as with the MPEG-TS pusher.
      if (seg.index === 2) {
        announced = true;
        announce({ partTarget });
      }
    }),
  );
  await cutter.start();
}
