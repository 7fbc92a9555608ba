// bench/receipts: the cost of paid delivery at a relay. One priced relay serves a cached ~1.5 MB segment to
// wrk (32 connections) with receipts off (no receipt traffic) and on (receipts POSTed, each checked — two
// signature recoveries — and kept, from as many viewer sessions as the measured throughput represents at
// 6 Mb/s, one receipt per session every RECEIPT_INTERVAL_MS, from 200 source addresses so the per-address
// limit does not answer 429 for them), alternating in the same run. Prints on/off segment throughput
// (target ≥ 0.95), receipts checked per second, signatures per viewer per minute, and the signing cost
// of one receipt with the player's code (noble, in Node), only after checking every response.
// Needs wrk (apt-get install wrk). Usage: npm run bench:receipts [-- --seconds 10 --rounds 2]

import { request, Agent } from 'node:http';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { parseFlags } from '../../cli/options.ts';
import { createRelay } from '../../relay/relay.ts';
import { silentLogger } from '../../observability/logger.ts';
import type { SegmentMetadata } from '../../protocol/segment-metadata.ts';
import { RelayClient } from '../../broadcaster/node-clients.ts';
import { identityFromPrivateKey, randomIdentity } from '../../protocol/identity.ts';
import { signSegmentBytes } from '../../protocol/segment-signing.ts';
import { signCertificate, signReceipt, type SignedCertificate } from '../../protocol/delivery-receipt.ts';
import { RECEIPT_INTERVAL_MS } from '../../player/receipts.ts';
import { median, requireExecutable, runBench } from '../support/report.ts';
import { WRK_PATH, checkWrkRun, wrk } from '../support/wrk.ts';

const CONNECTIONS = 32;
const SEGMENT_BYTES = 188 * 8000;
const VIEWER_BITS_PER_SECOND = 6e6;
const SOURCES = 200;
const { flags } = parseFlags(process.argv.slice(2));
const seconds = Number(flags.get('seconds') ?? 10);
const rounds = Number(flags.get('rounds') ?? 2);

process.exit(
  await runBench('receipts', { seconds, rounds, connections: CONNECTIONS, segmentBytes: SEGMENT_BYTES, viewerBitrate: VIEWER_BITS_PER_SECOND, receiptIntervalMs: RECEIPT_INTERVAL_MS }, async (bench) => {
    requireExecutable(WRK_PATH, 'apt-get install wrk');
    const payer = randomIdentity();
    const relay = await createRelay(
      { httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, pricePerByte: 1n, streamIdleMs: 600_000 },
      // The payer is this process: its terms are given, and claims go to a port nothing listens on (they fail at once).
      { logger: silentLogger, deliveryLookup: async () => ({ payer: payer.address, url: 'http://127.0.0.1:9', maxPricePerByte: '10' }) },
    );
    await relay.start();
    const url = new URL(relay.url);
    const agents = Array.from({ length: SOURCES }, () => new Agent({ keepAlive: true, maxSockets: 4 }));
    try {
      const publisher = identityFromPrivateKey(secp256k1.utils.randomSecretKey());
      const client = new RelayClient();
      await client.pushDescriptor(relay.url, { playbackId: 'bench', targetDuration: 2, variants: [{ name: 'source', width: 1280, height: 720, bandwidth: 6e6, codecs: 'avc1.64001f,mp4a.40.2' }] }, publisher);
      const segment = Buffer.alloc(SEGMENT_BYTES);
      for (let i = 0; i < segment.length; i += 188) segment[i] = 0x47;
      for (let seq = 0; seq < 6; seq++) {
        const meta: SegmentMetadata = { duration: 2, programDateTime: new Date().toISOString(), discontinuity: false };
        await client.pushSegment(relay.url, 'bench', 'source', seq, meta, segment, signSegmentBytes(publisher.privateKey, { playbackId: 'bench', rendition: 'source', seq }, meta, segment));
      }
      const segUrl = `${relay.url}/hls/bench/source/5.ts`;

      // Receipts off first, to size the receipt load: the viewers this throughput serves.
      const warm = await wrk(segUrl, { seconds, connections: CONNECTIONS });
      checkWrkRun(bench, 'sizing run', warm, SEGMENT_BYTES);
      const viewers = Math.ceil(warm.bytesPerSec / (VIEWER_BITS_PER_SECOND / 8));
      const receiptsPerSecond = viewers / (RECEIPT_INTERVAL_MS / 1000);
      const perRound = Math.ceil(receiptsPerSecond * seconds);
      bench.progress(`${viewers} viewers at 6 Mb/s → ${receiptsPerSecond.toFixed(0)} receipts/s; signing ${perRound * rounds} receipts`);

      // Pre-signed as players sign them: one session key and certificate per viewer, cumulative bytes.
      const sessions: Array<{ key: Uint8Array; address: string; cert: SignedCertificate; bytes: number }> = [];
      for (let i = 0; i < viewers; i++) {
        const id = randomIdentity();
        const now = Date.now();
        sessions.push({ key: id.privateKey, address: id.address, bytes: 0, cert: signCertificate({ playbackId: 'bench', sessionKey: id.address, payer: payer.address, issuedAt: now, expiresAt: now + 3_600_000, byteBudget: 2 ** 40 }, payer.privateKey) });
      }
      const signStarted = performance.now();
      const bodies: string[] = [];
      for (let i = 0; i < perRound * rounds; i++) {
        const s = sessions[i % viewers]!;
        s.bytes += SEGMENT_BYTES;
        bodies.push(JSON.stringify(signReceipt({ session: s.address, playbackId: 'bench', relay: relay.paymentAddress, bytes: s.bytes, rendition: 'source', sequence: 5, at: Date.now() }, s.key, s.cert)));
      }
      const signMs = (performance.now() - signStarted) / bodies.length;

      let next = 0;
      const statuses = new Map<number, number>();
      const send = (body: string, source: number) =>
        new Promise<void>((resolve) => {
          const req = request({ host: url.hostname, port: url.port, path: '/delivery/bench/receipts', method: 'POST', agent: agents[source], localAddress: `127.0.1.${source + 1}`, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
            statuses.set(res.statusCode!, (statuses.get(res.statusCode!) ?? 0) + 1);
            res.resume();
            res.on('end', resolve);
          });
          req.on('error', () => {
            statuses.set(0, (statuses.get(0) ?? 0) + 1);
            resolve();
          });
          req.end(body);
        });
      const load = async (count: number) => {
        const started = performance.now();
        const inFlight: Promise<void>[] = [];
        for (let sent = 0; sent < count; ) {
          const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * receiptsPerSecond));
          for (; sent < due; sent++, next++) inFlight.push(send(bodies[next]!, next % SOURCES));
          await new Promise((r) => setTimeout(r, 10));
        }
        await Promise.all(inFlight);
      };

      const results: Record<'off' | 'on', number[]> = { off: [], on: [] };
      for (let round = 0; round < rounds; round++) {
        for (const mode of round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
          const receipts = mode === 'on' ? load(perRound) : Promise.resolve();
          const seg = await wrk(segUrl, { seconds, connections: CONNECTIONS });
          await receipts;
          checkWrkRun(bench, `round ${round + 1} receipts ${mode}`, seg, SEGMENT_BYTES);
          results[mode].push(seg.bytesPerSec);
          bench.figure(`round ${round + 1} receipts ${mode.padEnd(3)} segment ${(seg.bytesPerSec / 1024 ** 3).toFixed(2)} GiB/s`);
        }
      }
      const kept = statuses.get(204) ?? 0;
      bench.check(kept === perRound * rounds, `every receipt was checked and kept (${kept} × 204)`, `receipt answers: ${JSON.stringify(Object.fromEntries(statuses))}`);
      const figures = relay.earnings.figures('bench');
      bench.check(figures !== null && figures.receiptBytes === sessions.reduce((n, s) => n + s.bytes, 0), 'the relay holds each session’s newest receipt', 'the relay lost receipts');
      bench.figure(`\nwrk -t1 -c${CONNECTIONS} -d${seconds}s, ${rounds} rounds; ${viewers} viewer sessions, ${receiptsPerSecond.toFixed(0)} receipts/s while on`);
      bench.figure(`segments receipts on/off throughput: ${(median(results.on) / median(results.off)).toFixed(3)} (target ≥ 0.95)`);
      bench.figure(`signatures per viewer per minute: ${(60_000 / RECEIPT_INTERVAL_MS).toFixed(0)} (one receipt per relay every ${RECEIPT_INTERVAL_MS / 1000} s); receipt body ~${Math.round(bodies[0]!.length)} bytes → ${((bodies[0]!.length * 8) / (RECEIPT_INTERVAL_MS / 1000) / VIEWER_BITS_PER_SECOND * 100).toFixed(4)} % of a 6 Mb/s viewer's bandwidth`);
      bench.figure(`player CPU: ${signMs.toFixed(3)} ms to sign one receipt (noble secp256k1, Node) → ${((signMs * 60_000) / RECEIPT_INTERVAL_MS / 60_000 * 100).toFixed(4)} % of one core`);
    } finally {
      for (const a of agents) a.destroy();
      await relay.stop();
    }
  }),
);
