// bench/receipts: the cost of paid delivery at a relay. One priced relay serves a cached ~1.5 MB segment to
// wrk (32 connections) with receipts off (no receipt traffic) and on (bench/support/receipt-load.ts: as
// many viewer sessions as the measured throughput represents at 6 Mb/s, each sending a receipt every
// RECEIPT_INTERVAL_MS, sessions started before measuring and new ones joining meanwhile), in two ways: as
// players send them, riding on segment requests (`ride`: one request in every 7.5 MB of segments carries
// one), and each POSTed on its own (`post`, as players did before), all alternating in the same run.
// Prints on/off segment throughput for both (target ≥ 0.95), signatures per viewer per minute, and the
// signing cost of one receipt with the player's code, only after checking every response. Then, apart
// from wrk (whose throughput on a shared 2-core machine moves more between runs than receipts move it),
// the relay CPU one receipt costs: PROBE_RECEIPTS GETs of a tiny segment with and without a riding
// receipt, and as many receipts POSTed, each batch from the sender alone (PROBE_REPEATS times, median),
// and the on/off throughput that cost implies against the relay CPU per segment of the receipts-off runs.
// Needs wrk (apt-get install wrk). Usage: npm run bench:receipts [-- --seconds 10 --rounds 2]

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseFlags } from '../../cli/options.ts';
import { createRelay } from '../../relay/relay.ts';
import { silentLogger } from '../../observability/logger.ts';
import type { SegmentMetadata } from '../../protocol/segment-metadata.ts';
import { RelayClient } from '../../broadcaster/node-clients.ts';
import { identityFromPrivateKey, randomIdentity } from '../../protocol/identity.ts';
import { signSegmentBytes } from '../../protocol/segment-signing.ts';
import { RECEIPT_INTERVAL_MS } from '../../player/receipts.ts';
import { median, requireExecutable, runBench } from '../support/report.ts';
import { WRK_PATH, checkWrkRun, wrk } from '../support/wrk.ts';
import { RECEIPT_PARAM } from '../../protocol/delivery-receipt.ts';
import { BYTES_PER_RECEIPT, ReceiptLoadProcess, checkLoad, loadFigures, relayReceiptResults, VIEWER_BITS_PER_SECOND } from '../support/receipt-load.ts';

const CONNECTIONS = 32;
const SEGMENT_BYTES = 188 * 8000;
const PROBE_RECEIPTS = 2_000;
const PROBE_REPEATS = 3;
const TINY_BYTES = 188 * 4;
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
    let closeLoad = () => {};
    try {
      const publisher = identityFromPrivateKey(secp256k1.utils.randomSecretKey());
      const client = new RelayClient();
      await client.pushDescriptor(relay.url, { playbackId: 'bench', targetDuration: 2, variants: [{ name: 'source', width: 1280, height: 720, bandwidth: 6e6, codecs: 'avc1.64001f,mp4a.40.2' }, { name: 'tiny', width: 16, height: 16, bandwidth: 1e4, codecs: 'avc1.64001f,mp4a.40.2' }] }, publisher);
      const segment = Buffer.alloc(SEGMENT_BYTES);
      for (let i = 0; i < segment.length; i += 188) segment[i] = 0x47;
      // The cost probe's segment: small, so the GET around a riding receipt costs little beside it.
      const tiny = segment.subarray(0, TINY_BYTES);
      for (let seq = 0; seq < 6; seq++) {
        for (const [rendition, bytes] of [['source', segment], ['tiny', tiny]] as const) {
          const meta: SegmentMetadata = { duration: 2, programDateTime: new Date().toISOString(), discontinuity: false };
          await client.pushSegment(relay.url, 'bench', rendition, seq, meta, bytes, signSegmentBytes(publisher.privateKey, { playbackId: 'bench', rendition, seq }, meta, bytes));
        }
      }
      const segUrl = `${relay.url}/hls/bench/source/5.ts`;

      // Receipts off first, to size the receipt load: the viewers this throughput serves.
      const warm = await wrk(segUrl, { seconds, connections: CONNECTIONS });
      checkWrkRun(bench, 'sizing run', warm, SEGMENT_BYTES);
      bench.progress('sizing the receipt load and starting its sessions (their first receipts)');
      const load = await ReceiptLoadProcess.start({ relayUrl: relay.url, relayAddress: relay.paymentAddress, payer, playbackId: 'bench', segmentBytes: SEGMENT_BYTES, rendition: 'source', sequence: 5 }, warm.bytesPerSec);
      closeLoad = () => load.close();
      bench.progress(`${load.viewers} viewers at 6 Mb/s → ${load.receiptsPerSecond.toFixed(0)} receipts/s`);

      // pad: the riding runs' requests with the receipt parameter renamed (same bytes, no receipt taken): what
      // the longer request lines alone cost, so the ride/off ratio can be told from wrk's and the machine's noise.
      type Mode = 'off' | 'ride' | 'post' | 'pad';
      const results: Record<Mode, number[]> = { off: [], ride: [], post: [], pad: [] };
      // Bytes served per CPU second of this process (the relay alone: wrk and the receipt sender are other
      // processes): the relay's capacity, which other load on a shared machine does not move as it moves wall throughput.
      const perCpu: Record<Mode, number[]> = { off: [], ride: [], post: [], pad: [] };
      let ridden = 0;
      const noPaths = join(mkdtempSync(join(tmpdir(), 'castnet-bench-')), 'none.txt');
      writeFileSync(noPaths, '');
      for (let round = 0; round < rounds; round++) {
        for (const mode of round % 2 === 0 ? (['off', 'ride', 'pad', 'post'] as const) : (['post', 'pad', 'ride', 'off'] as const)) {
          let riding;
          let padFile: string | null = null;
          if (mode === 'post') await load.prepare(seconds);
          if (mode === 'ride') riding = await load.prepareRiding(seconds, '/hls/bench/source/5.ts');
          if (mode === 'pad') {
            const prepared = await load.prepareRiding(seconds, '/hls/bench/source/5.ts');
            padFile = join(dirname(noPaths), 'pad.txt');
            writeFileSync(padFile, readFileSync(prepared.file, 'utf8').replaceAll(`${RECEIPT_PARAM}=`, 'castnet-pad='));
          }
          const cpu = process.cpuUsage();
          // Joining sessions' first receipts are POSTed in the ride and pad runs alike.
          const receipts = mode === 'post' ? load.send() : mode === 'ride' || mode === 'pad' ? load.sendJoins() : Promise.resolve();
          // Every run goes through wrk-receipts.lua (off and post with no receipt paths), so wrk builds its requests alike in every mode.
          const seg = await wrk(segUrl, { seconds, connections: CONNECTIONS, receipts: { file: riding?.file ?? padFile ?? noPaths, bytesPerReceipt: BYTES_PER_RECEIPT, segmentBytes: SEGMENT_BYTES } });
          if (padFile) await load.ridden(0);
          await receipts;
          const used = process.cpuUsage(cpu);
          perCpu[mode].push(seg.bytes / ((used.user + used.system) / 1e6));
          checkWrkRun(bench, `round ${round + 1} receipts ${mode}`, seg, SEGMENT_BYTES);
          if (riding) {
            await load.ridden(seg.receiptsSent);
            ridden += seg.receiptsSent;
            const due = Math.floor((seg.requests * SEGMENT_BYTES) / BYTES_PER_RECEIPT);
            bench.check(seg.receiptsSent >= due - CONNECTIONS && seg.receiptsSent < riding.paths, `round ${round + 1}: ${seg.receiptsSent} of ${seg.requests} segment requests carried a receipt (one per ${BYTES_PER_RECEIPT / 1e6} MB)`, `round ${round + 1}: ${seg.receiptsSent} receipts rode on ${seg.requests} requests (${due} due, ${riding.paths} prepared)`);
          }
          results[mode].push(seg.bytesPerSec);
          bench.figure(`round ${round + 1} receipts ${mode.padEnd(4)} segment ${(seg.bytesPerSec / 1024 ** 3).toFixed(2)} GiB/s, ${(perCpu[mode].at(-1)! / 1024 ** 3).toFixed(2)} GiB per CPU second`);
        }
      }
      rmSync(dirname(noPaths), { recursive: true, force: true });
      // The relay CPU of one receipt, apart from wrk.
      const relayCpu = async (work: () => Promise<unknown>) => {
        const cpu = process.cpuUsage();
        await work();
        const used = process.cpuUsage(cpu);
        return (used.user + used.system) / 1e6;
      };
      const probe: Record<'plain' | 'ride' | 'post', number[]> = { plain: [], ride: [], post: [] };
      const tinyPath = '/hls/bench/tiny/5.ts';
      for (let k = 0; k < PROBE_REPEATS; k++) {
        probe.plain.push(await relayCpu(() => load.getAll({ path: tinyPath, count: PROBE_RECEIPTS })));
        await load.prepareRidingExactly(PROBE_RECEIPTS, tinyPath);
        probe.ride.push(await relayCpu(() => load.getAll({ ride: true })));
        await load.preparePosts(PROBE_RECEIPTS);
        probe.post.push(await relayCpu(() => load.sendPosts()));
      }
      const report = await load.report();
      checkLoad(bench, report, relay.earnings.figures('bench')?.receiptBytes, await relayReceiptResults(relay.url));
      const gets = PROBE_REPEATS * PROBE_RECEIPTS * 2;
      bench.check((report.gets['200'] ?? 0) === gets && Object.keys(report.gets).length === 1 && (report.answers.kept ?? 0) === PROBE_REPEATS * PROBE_RECEIPTS, `the cost probe's ${gets} tiny segment GETs answered 200, its ${PROBE_REPEATS * PROBE_RECEIPTS} riding receipts kept`, `the cost probe's GETs: ${JSON.stringify(report.gets)}, riding answers ${JSON.stringify(report.answers)}`);
      bench.figure(`\nwrk -t1 -c${CONNECTIONS} -d${seconds}s, ${rounds} rounds; ${ridden} receipts rode on segment requests, ${report.statuses['204'] ?? 0} POSTed (sessions' first receipts, joiners', and the post runs)`);
      for (const mode of ['ride', 'post'] as const) {
        bench.figure(`segments receipts ${mode === 'ride' ? 'on segment requests' : 'POSTed alone     '} on/off throughput: ${(median(results[mode]) / median(results.off)).toFixed(3)} wall, ${(median(perCpu[mode]) / median(perCpu.off)).toFixed(3)} per CPU second (target ≥ 0.95)`);
      }
      bench.figure(`  control: the riding requests with no receipt in them (same request bytes) ${(median(results.pad) / median(results.off)).toFixed(3)} wall, ${(median(perCpu.pad) / median(perCpu.off)).toFixed(3)} per CPU second of off; riding/control ${(median(perCpu.ride) / median(perCpu.pad)).toFixed(3)} per CPU second`);
      for (const line of loadFigures(report)) bench.figure(line);
      const us = (xs: number[]) => (median(xs) / PROBE_RECEIPTS) * 1e6;
      const rideUs = (median(probe.ride.map((r, i) => r - probe.plain[i]!)) / PROBE_RECEIPTS) * 1e6;
      const segmentUs = (SEGMENT_BYTES / median(perCpu.off)) * 1e6;
      const segmentsPerReceipt = BYTES_PER_RECEIPT / SEGMENT_BYTES;
      const implied = (costUs: number) => (1 / (1 + costUs / (segmentUs * segmentsPerReceipt))).toFixed(3);
      bench.figure(`relay CPU per receipt, apart from wrk (${PROBE_RECEIPTS} receipts × ${PROBE_REPEATS}, median): riding on a segment request ${rideUs.toFixed(0)} µs (a ${TINY_BYTES} B segment GET with it ${us(probe.ride).toFixed(0)} µs, without ${us(probe.plain).toFixed(0)} µs), POSTed alone ${us(probe.post).toFixed(0)} µs`);
      bench.figure(`  against ${segmentUs.toFixed(0)} µs of relay CPU per ${SEGMENT_BYTES} B segment (receipts-off runs), one receipt per ${segmentsPerReceipt.toFixed(2)} segments → implied receipts on/off throughput ${implied(rideUs)} riding, ${implied(us(probe.post))} POSTed (target ≥ 0.95)`);
    } finally {
      closeLoad();
      await relay.stop();
    }
  }),
);
