// bench/relay: the relay serving a cached ~1.5 MB segment and a small playlist, against nginx (one worker,
// sendfile on) serving the same bytes from files, both loaded by wrk at 32 connections on loopback in the
// same run. Prints relay/nginx throughput for segments and requests/s for playlists, only after checking
// every wrk run (all responses 2xx, no socket error, the expected bytes) and that the stream stayed live.
// With --receipts the relay charges for delivery and each round also measures its segments while viewer
// receipts arrive (bench/support/receipt-load.ts, sized from the round's receipts-off run): riding on the
// segment requests as players send them (one request in every 7.5 MB carries one), joining sessions'
// first receipts POSTed. Prints relay receipts-on/off throughput (target ≥ 0.95) and signatures per
// viewer per minute, after checking every receipt was kept.
// Needs Debian's nginx and wrk (apt-get install nginx wrk).
// Usage: npm run bench:relay [-- --seconds 10 --rounds 2 --stream-idle-seconds 60 --no-keep-alive --receipts]

import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFlags } from '../../cli/options.ts';
import { createRelay } from '../../relay/relay.ts';
import { silentLogger } from '../../observability/logger.ts';
import type { SegmentMetadata } from '../../protocol/segment-metadata.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { RelayClient } from '../../broadcaster/node-clients.ts';
import { identityFromPrivateKey } from '../../protocol/identity.ts';
import { signSegmentBytes } from '../../protocol/segment-signing.ts';
import { median, requireExecutable, runBench } from '../support/report.ts';
import { WRK_PATH, checkServes, checkWrkRun, wrk } from '../support/wrk.ts';
import { BYTES_PER_RECEIPT, ReceiptLoadProcess, checkLoad, loadFigures, relayReceiptResults } from '../support/receipt-load.ts';
import { randomIdentity } from '../../protocol/identity.ts';

const NGINX_PATH = '/usr/sbin/nginx';
const CONNECTIONS = 32;
const SEGMENT_BYTES = 188 * 8000; // whole TS packets, ~1.5 MB: a 6 Mb/s 2 s segment
const { flags } = parseFlags(process.argv.slice(2));
const seconds = Number(flags.get('seconds') ?? 10);
const rounds = Number(flags.get('rounds') ?? 2);
const streamIdleSeconds = Number(flags.get('stream-idle-seconds') ?? 60);
// Off only to show that an expired stream fails the run rather than reporting 404s as throughput.
const keepAlive = flags.get('keep-alive') !== false;
const receipts = flags.get('receipts') === true;
// Re-pushing the same segment keeps the stream live without changing a byte of what wrk fetches.
const keepAliveMs = Math.min(15_000, (streamIdleSeconds * 1000) / 4);

const parameters = { seconds, rounds, connections: CONNECTIONS, wrkThreads: 1, segmentBytes: SEGMENT_BYTES, streamIdleSeconds, keepAlive: keepAlive ? `every ${keepAliveMs} ms` : 'off', receipts };
process.exit(
  await runBench('relay', parameters, async (bench) => {
    requireExecutable(NGINX_PATH, 'apt-get install nginx');
    requireExecutable(WRK_PATH, 'apt-get install wrk');
    const work = join(import.meta.dirname, '..', '.work', 'relay');
    rmSync(work, { recursive: true, force: true });
    mkdirSync(join(work, 'www', 'hls', 'bench', 'source'), { recursive: true });

    const segment = Buffer.alloc(SEGMENT_BYTES);
    for (let i = 0; i < segment.length; i += 188) segment[i] = 0x47;
    const payer = randomIdentity();
    const relay = await createRelay(
      { httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, streamIdleMs: streamIdleSeconds * 1000, ...(receipts ? { pricePerByte: 1n } : {}) },
      // With --receipts the payer is this process: its terms are given, and claims go to a port nothing listens on (they fail at once).
      { logger: silentLogger, ...(receipts ? { deliveryLookup: async () => ({ payer: payer.address, url: 'http://127.0.0.1:9', maxPricePerByte: '10' }) } : {}) },
    );
    await relay.start();
    const expired: string[] = [];
    const keepAliveErrors: string[] = [];
    relay.store.on('streamExpired', (id) => expired.push(id));
    let nginx: ReturnType<typeof spawn> | undefined;
    let keepAliveTimer: NodeJS.Timeout | undefined;
    const bare = createServer();
    let load: ReceiptLoadProcess | undefined;
    try {
      // Pushed as a broadcaster pushes: a signed descriptor, and each segment with its publisher's signature.
      const publisher = identityFromPrivateKey(secp256k1.utils.randomSecretKey());
      const client = new RelayClient();
      await client.pushDescriptor(relay.url, { playbackId: 'bench', targetDuration: 2, variants: [{ name: 'source', width: 1280, height: 720, bandwidth: 6e6, codecs: 'avc1.64001f,mp4a.40.2' }] }, publisher);
      const metas: SegmentMetadata[] = [];
      const push = (seq: number) => client.pushSegment(relay.url, 'bench', 'source', seq, metas[seq]!, segment, signSegmentBytes(publisher.privateKey, { playbackId: 'bench', rendition: 'source', seq }, metas[seq]!, segment));
      for (let seq = 0; seq < 6; seq++) {
        metas.push({ duration: 2, programDateTime: new Date().toISOString(), discontinuity: false });
        await push(seq);
      }
      if (keepAlive) {
        keepAliveTimer = setInterval(() => {
          push(5).catch((err: Error) => keepAliveErrors.push(err.message));
        }, keepAliveMs);
      }
      const playlist = Buffer.from(await (await fetch(`${relay.url}/hls/bench/source/index.m3u8`)).arrayBuffer());
      writeFileSync(join(work, 'www', 'hls', 'bench', 'source', '5.ts'), segment);
      writeFileSync(join(work, 'www', 'hls', 'bench', 'source', 'index.m3u8'), playlist);

      const nginxPort = 20000 + Math.floor(Math.random() * 20000);
      writeFileSync(
        join(work, 'nginx.conf'),
        `user root;
worker_processes 1;
daemon off;
pid ${work}/nginx.pid;
error_log ${work}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  types { video/mp2t ts; application/vnd.apple.mpegurl m3u8; }
  server {
    listen 127.0.0.1:${nginxPort};
    root ${work}/www;
    add_header Cache-Control "public, max-age=1";
  }
}
`,
      );
      nginx = spawn(NGINX_PATH, ['-p', work, '-c', join(work, 'nginx.conf')], { stdio: 'ignore' });
      // The ceiling for any Node server here: plain node:http answering every request with the same Buffer.
      bare.on('request', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl', 'content-length': playlist.length });
        res.end(playlist);
      });
      await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
      const bareUrl = `http://127.0.0.1:${(bare.address() as { port: number }).port}/`;
      const nginxUrl = `http://127.0.0.1:${nginxPort}`;
      for (let i = 0; i < 100; i++) {
        if (await fetch(`${nginxUrl}/hls/bench/source/index.m3u8`).then((r) => r.ok, () => false)) break;
        await new Promise((r) => setTimeout(r, 50));
      }

      const results: Record<string, number[]> = { relaySeg: [], nginxSeg: [], relayPl: [], nginxPl: [], barePl: [], receiptsSeg: [], receiptsOffSeg: [], receiptsPerCpu: [], receiptsOffPerCpu: [] };
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? ['relay', 'nginx'] : ['nginx', 'relay'];
        for (const who of order) {
          if (who === 'relay' && receipts && load) {
            // Receipts on, right before the relay's receipts-off run of this round.
            const riding = await load.prepareRiding(seconds, '/hls/bench/source/5.ts');
            const cpu = process.cpuUsage();
            const sending = load.sendJoins();
            const seg = await wrk(`${relay.url}/hls/bench/source/5.ts`, { seconds, connections: CONNECTIONS, receipts: { file: riding.file, bytesPerReceipt: BYTES_PER_RECEIPT, segmentBytes: segment.length } });
            await sending;
            const used = process.cpuUsage(cpu);
            results.receiptsPerCpu!.push(seg.bytes / ((used.user + used.system) / 1e6));
            checkWrkRun(bench, `round ${round + 1} relay segment, receipts on`, seg, segment.length);
            await load.ridden(seg.receiptsSent);
            const due = Math.floor((seg.requests * segment.length) / BYTES_PER_RECEIPT);
            bench.check(seg.receiptsSent >= due - CONNECTIONS && seg.receiptsSent < riding.paths, `round ${round + 1}: ${seg.receiptsSent} of ${seg.requests} segment requests carried a receipt`, `round ${round + 1}: ${seg.receiptsSent} receipts rode on ${seg.requests} requests (${due} due, ${riding.paths} prepared)`);
            results.receiptsSeg!.push(seg.bytesPerSec);
            bench.figure(`round ${round + 1} relay segment receipts on ${(seg.bytesPerSec / 1024 ** 3).toFixed(2)} GiB/s (${seg.requestsPerSec.toFixed(0)} req/s)`);
          }
          const base = who === 'relay' ? relay.url : nginxUrl;
          const segUrl = `${base}/hls/bench/source/5.ts`;
          const plUrl = `${base}/hls/bench/source/index.m3u8`;
          const cpu = process.cpuUsage();
          const seg = await wrk(segUrl, { seconds, connections: CONNECTIONS });
          const used = process.cpuUsage(cpu);
          checkWrkRun(bench, `round ${round + 1} ${who} segment`, seg, segment.length);
          await checkServes(bench, `round ${round + 1} ${who} segment afterwards`, segUrl, segment);
          const pl = await wrk(plUrl, { seconds, connections: CONNECTIONS });
          checkWrkRun(bench, `round ${round + 1} ${who} playlist`, pl, playlist.length);
          await checkServes(bench, `round ${round + 1} ${who} playlist afterwards`, plUrl, playlist);
          results[`${who}Seg`]!.push(seg.bytesPerSec);
          results[`${who}Pl`]!.push(pl.requestsPerSec);
          if (who === 'relay' && receipts) {
            if (load) {
              results.receiptsOffSeg!.push(seg.bytesPerSec);
              results.receiptsOffPerCpu!.push(seg.bytes / ((used.user + used.system) / 1e6));
            }
            else {
              // Sized from the first receipts-off run: the viewers that throughput serves; their sessions start now.
              load = await ReceiptLoadProcess.start({ relayUrl: relay.url, relayAddress: relay.paymentAddress, payer, playbackId: 'bench', segmentBytes: segment.length, rendition: 'source', sequence: 5 }, seg.bytesPerSec);
              bench.progress(`receipts: ${load.viewers} viewer sessions started, ${load.receiptsPerSecond.toFixed(0)} receipts/s`);
            }
          }
          bench.figure(`round ${round + 1} ${who.padEnd(5)} segment ${(seg.bytesPerSec / 1024 ** 3).toFixed(2)} GiB/s (${seg.requestsPerSec.toFixed(0)} req/s), playlist ${pl.requestsPerSec.toFixed(0)} req/s`);
        }
        const barePl = await wrk(bareUrl, { seconds, connections: CONNECTIONS });
        checkWrkRun(bench, `round ${round + 1} bare node:http playlist`, barePl, playlist.length);
        results.barePl!.push(barePl.requestsPerSec);
        bench.figure(`round ${round + 1} bare node:http playlist ${barePl.requestsPerSec.toFixed(0)} req/s`);
        bench.progress(`round ${round + 1}/${rounds} measured`);
      }
      bench.check(keepAliveErrors.length === 0, 'every keep-alive push was accepted', `keep-alive pushes failed: ${keepAliveErrors.join('; ')}`);
      bench.check(expired.length === 0, `stream bench stayed live for the whole run (no expiry)`, `stream ${expired.join(', ')} expired during the run`);
      bench.figure(`\nwrk -t1 -c${CONNECTIONS} -d${seconds}s, ${rounds} rounds, ${segment.length} byte segment, ${playlist.length} byte playlist`);
      bench.figure(`segments  relay/nginx throughput: ${(median(results.relaySeg!) / median(results.nginxSeg!)).toFixed(3)} (target ≥ 1.0)`);
      bench.figure(`playlists relay/nginx requests/s: ${(median(results.relayPl!) / median(results.nginxPl!)).toFixed(3)} (target ≥ 0.7)`);
      if (receipts) {
        if (!load || results.receiptsSeg!.length === 0) throw new Error('--receipts needs at least 2 rounds: the first sizes the receipt load');
        const report = await load.report();
        checkLoad(bench, report, relay.earnings.figures('bench')?.receiptBytes, await relayReceiptResults(relay.url));
        bench.figure(`segments  relay receipts on/off throughput: ${(median(results.receiptsSeg!) / median(results.receiptsOffSeg!)).toFixed(3)} wall, ${(median(results.receiptsPerCpu!) / median(results.receiptsOffPerCpu!)).toFixed(3)} per CPU second of the relay's process (target ≥ 0.95; ${results.receiptsSeg!.length} on and ${results.receiptsOffSeg!.length} off runs after sizing)`);
        for (const line of loadFigures(report)) bench.figure(`  ${line}`);
      }
      bench.figure(`  ceiling here: bare node:http/nginx ${(median(results.barePl!) / median(results.nginxPl!)).toFixed(3)}; relay/bare node:http ${(median(results.relayPl!) / median(results.barePl!)).toFixed(3)}`);
    } finally {
      clearInterval(keepAliveTimer);
      load?.close();
      nginx?.kill('SIGTERM');
      bare.close();
      await relay.stop();
    }
  }),
);
