// bench/fanout: simulated viewers spread over three edge relays that pull from one origin, each behaving
// as a live HLS player (blocking playlist reload, then the newest segment). For 10, 100 and 1,000 viewers,
// prints origin requests and bytes per minute and the segment fetch latency the viewers saw. Relays run in
// a child process; loops are bounded by count and time. Figures are printed only after checking every
// playlist and segment response (200, the pushed segment's size), that every viewer kept up, and that the
// origin's pusher never stopped.
// With --receipts every relay charges for delivery and each step runs twice, receipts off then on: on, every
// viewer holds a viewer session (a key certified by the payer) and signs a cumulative receipt for the bytes
// its edge delivered every RECEIPT_INTERVAL_MS and when it leaves, as players send them: the session's
// first and its last (on leaving) POSTed to the edge (each viewer from its own loopback address, as players
// are), the others riding on the viewer's next segment request (the castnet-receipt parameter). Each
// answer must be 204 or `kept` and the edges must count every receipt kept; then it prints the relays' CPU per segment served on/off (the inverse is the throughput ratio,
// target ≥ 0.95), the latencies on and off, and signatures per viewer per minute.
// With --parts the stream is low-latency CMAF (a real FFmpeg test pattern cut into parts, part target 0.334 s)
// and each viewer behaves as hls.js in lowLatencyMode: a blocking reload for the preload-hinted part with
// delta updates (`_HLS_msn`/`_HLS_part`/`_HLS_skip=YES`), then the newest part it lists. Checked: every
// playlist 200 and listing the part it waited for, every part 200 with the bytes the origin was pushed,
// every viewer keeping up. Printed: origin load per step, the part fetch time, and how long after the
// origin had a part each viewer held the playlist listing it (the edge's follow, wake-up and answer), and
// the CPU per viewer request of the relays and of the viewers. Low-latency viewers speak HTTP/1.1 over one
// keep-alive socket each (viewers.ts ViewerConnection), not node:http's client: on one machine the load
// generator shares the cores with the relays, and node:http's client cost more per request than the relays.
// --threads N runs the viewers in N worker threads (bench/fanout/viewers.ts), each on its own event loop;
// --edge-processes runs each edge in a process of its own (relays.ts --edge-of), as edges are deployed.
// Usage: npm run bench:fanout [-- --seconds 60 --viewers 10,100,1000 --threads 1 --edge-processes --receipts | --parts]

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { availableParallelism } from 'node:os';
import { parseFlags } from '../../cli/options.ts';
import { runBench } from '../support/report.ts';
import { randomIdentity } from '../../protocol/identity.ts';
import { signCertificate } from '../../protocol/delivery-receipt.ts';
import { closeViewers, fail, get, newStep, sendReceipt, watch, type ViewerReceipts } from './viewers.ts';

const { flags } = parseFlags(process.argv.slice(2));
const seconds = Number(flags.get('seconds') ?? 60);
const steps = String(flags.get('viewers') ?? '10,100,1000').split(',').map(Number);
const receipts = flags.get('receipts') === true;
const parts = flags.get('parts') === true;
if (parts && receipts) throw new Error('--parts and --receipts are measured apart: give one');
const PART_TARGET_S = 0.334;
// The viewers' threads: each runs its share of every step on its own event loop (1: all in the main thread).
const threads = Number(flags.get('threads') ?? 1);
// Each edge in a process of its own, as edges are deployed (default: the origin and its edges share one).
const edgeProcesses = flags.get('edge-processes') === true;
const cores = availableParallelism();
if (!Number.isInteger(threads) || threads < 1 || threads > 16) throw new Error('--threads needs a whole number from 1 to 16');
const payer = randomIdentity();
/** Loopback source addresses viewers post receipts from: the per-address receipt limit is per player. */
const RECEIPT_SOURCES = 250;
const CHILD_START_MS = 30_000;

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;

process.exit(
  await runBench('fanout', { seconds, viewers: steps.join(','), edges: 3, origins: 1, segmentSeconds: 2, receipts, threads, edgeProcesses, ...(parts ? { partTarget: PART_TARGET_S } : {}) }, async (bench) => {
    const relaysScript = new URL('./relays.ts', import.meta.url).pathname;
    const children: ChildProcess[] = [];
    /** Starts a relays.ts process; resolves with its first line (JSON), hands every later line to `onLine`. */
    const startRelays = <T,>(args: string[], onLine?: (line: string) => void) =>
      new Promise<T>((resolve, reject) => {
        const child = spawn(process.execPath, [relaysScript, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
        children.push(child);
        const timer = setTimeout(() => reject(new Error(`the relays did not start within ${CHILD_START_MS} ms`)), CHILD_START_MS);
        child.once('exit', (code) => reject(new Error(`a relays process (${args.join(' ')}) exited (${code}) before starting`)));
        let first = true;
        createInterface({ input: child.stdout! }).on('line', (l) => {
          if (!first) return onLine?.(l);
          first = false;
          clearTimeout(timer);
          resolve(JSON.parse(l) as T);
        });
      });
    const priced = receipts ? ['--receipts', payer.address] : [];
    /** --parts: what the origin took of each part (its size, and when it answered the push). */
    const pushed = new Map<string, { bytes: number; at: number }>();
    try {
      const urls = await startRelays<{ origin: string; edges: string[]; edgeAddresses: string[]; segmentBytes: number }>([...priced, ...(parts ? ['--parts', String(PART_TARGET_S)] : []), ...(edgeProcesses ? ['--edges', '0'] : [])], (l) => {
        const p = JSON.parse(l) as { part: string; bytes: number; at: number };
        pushed.set(p.part, { bytes: p.bytes, at: p.at });
      });
      if (edgeProcesses) {
        const edges = await Promise.all([0, 1, 2].map(() => startRelays<{ edge: string; edgeAddress: string }>([...priced, '--edge-of', urls.origin])));
        urls.edges = edges.map((e) => e.edge);
        urls.edgeAddresses = edges.map((e) => e.edgeAddress);
      }
      const stopped = () => children.find((c) => c.exitCode !== null || c.signalCode !== null);

      /** Each relay's /metrics text: the origin's first. */
      const metrics = () =>
        Promise.all(
          [urls.origin, ...urls.edges].map(async (url) => {
            const res = await get(`${url}/metrics`);
            if (res.status !== 200) throw new Error(`${url}/metrics answered ${res.status}`);
            return res.body.toString();
          }),
        );
      // A process's figures, read from the relays that own one: all four relays share one process unless
      // --edge-processes gave each edge its own, and then the processes' CPU and memory add up.
      const ownProcess = (i: number) => i === 0 || edgeProcesses;
      const processFigure = (texts: string[], name: string) => texts.filter((_, i) => ownProcess(i)).reduce((sum, t) => sum + Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(t)?.[1] ?? NaN), 0);

      /** CPU seconds of the relays' processes (all four relays) and the receipts the edges kept. */
      async function relayTotals(): Promise<{ cpu: number; kept: number }> {
        const texts = await metrics();
        const kept = texts.slice(1).reduce((sum, t) => sum + Number(/^castnet_relay_delivery_receipts_total\{[^}]*result="kept"[^}]*\} (\S+)/m.exec(t)?.[1] ?? 0), 0);
        return { cpu: processFigure(texts, 'castnet_process_cpu_seconds_total'), kept };
      }
      const originPerMinute: number[] = [];
      const compared: Array<{ count: number; mode: 'off' | 'on'; sessionStartMs: number; cpuPerFetch: number; p50: number; p99: number; receipts: number; signMs: number }> = [];

      async function originTotals(): Promise<{ requests: number; bytes: number; rss: number }> {
        const texts = await metrics();
        const text = texts[0]!;
        // The relays' resident memory together (one process, or the four added up).
        const rss = processFigure(texts, 'castnet_process_resident_memory_bytes');
        let requests = 0;
        for (const line of text.split('\n')) if (/^castnet_relay_http_requests_total\{[^}]*kind="(segment|media|master|part|init)"/.test(line)) requests += Number(line.split(' ').pop());
        const bytes = Number(/^castnet_relay_bytes_served_total\{[^}]*\} (\S+)/m.exec(text)?.[1] ?? 0);
        return { requests, bytes, rss };
      }

      for (const [count, mode] of steps.flatMap((c) => (receipts ? ([[c, 'off'], [c, 'on']] as const) : ([[c, 'off']] as const)))) {
        const label = receipts ? `${count} viewers, receipts ${mode}` : `${count} viewers`;
        const warmUp = newStep(0);
        // Receipts on: one viewer session per viewer, certified by the payer, as the payer's /delivery/sessions issues them.
        const sessions = Array.from({ length: count }, (_, i): ViewerReceipts | null => {
          if (mode !== 'on') return null;
          const key = randomIdentity();
          const now = Date.now();
          const cert = signCertificate({ playbackId: 'fan', sessionKey: key.address, payer: payer.address, issuedAt: now, expiresAt: now + 3_600_000, byteBudget: 2 ** 40 }, payer.privateKey);
          // The first receipt goes after the first segment, then one per interval.
          return { edgeAddress: urls.edgeAddresses[i % urls.edges.length]!, key, cert, localAddress: `127.0.2.${(i % RECEIPT_SOURCES) + 1}`, bytes: 0, sentBytes: 0, lastSent: 0, sequence: 0, due: null };
        });
        // Receipts on: the viewers are already watching when the step starts (a step is no mass arrival):
        // each fetched a segment and sent its session's first receipt, which the edge checks in full (two
        // signature recoveries). That cost is reported per session start, apart from the steady state.
        let sessionStartMs = NaN;
        if (mode === 'on') {
          const cpuBefore = (await relayTotals()).cpu;
          const playlist = await get(`${urls.edges[0]}/hls/fan/source/index.m3u8`);
          const newest = Number(/(\d+)\.ts\s*$/.exec(playlist.body.toString('latin1'))?.[1] ?? -1);
          for (let i = 0; i < count; i += 50) {
            await Promise.all(
              sessions.slice(i, i + 50).map(async (r, j) => {
                const edge = urls.edges[(i + j) % urls.edges.length]!;
                const seg = await get(`${edge}/hls/fan/source/${newest}.ts`);
                if (seg.status !== 200 || seg.body.length !== urls.segmentBytes) return fail(warmUp, `warm-up segment from ${edge}: ${seg.status}`);
                r!.bytes += seg.body.length;
                r!.sequence = newest;
                await sendReceipt(edge, r!, warmUp, false);
              }),
            );
          }
          sessionStartMs = (((await relayTotals()).cpu - cpuBefore) * 1e3) / count;
        }
        const relaysBefore = await relayTotals();
        // The load generator's CPU (this process with its viewer threads), beside the relays': on one machine they share the cores.
        const viewersCpuBefore = process.cpuUsage();
        const before = await originTotals();
        const started = Date.now();
        // Resident memory sampled through the step: with a steady audience it must level off, not climb.
        const rss: number[] = [];
        const sampler = setInterval(() => void originTotals().then((t) => rss.push(t.rss), () => undefined), 5_000);
        const until = started + seconds * 1000;
        const step = await watch({ edges: urls.edges, count, started, until, parts, segmentBytes: urls.segmentBytes, sessions }, threads);
        const viewersCpu = process.cpuUsage(viewersCpuBefore);
        const relaysCpu = (await relayTotals()).cpu - relaysBefore.cpu;
        step.failures += warmUp.failures;
        step.failureSamples.unshift(...warmUp.failureSamples);
        clearInterval(sampler);
        const after = await originTotals();
        const fetches = step.latencies.length;
        const fewest = Math.min(...step.fetchesPerViewer);
        const most = Math.max(...step.fetchesPerViewer);
        const unit = parts ? 'part' : 'segment';
        // A segment every 2 s (a part every PART-TARGET): a viewer that kept up fetched about that many; half of it is the least allowed.
        const least = Math.max(1, Math.floor(parts ? seconds / PART_TARGET_S / 2 : seconds / 4));
        // --parts: each part's bytes against what the origin was pushed (its announcement may come a moment after a viewer had it).
        const afterOrigin = { playlist: [] as number[], part: [] as number[] };
        if (parts) {
          const deadline = Date.now() + 5_000;
          while (Date.now() < deadline && step.partsGot.some((g) => !pushed.has(g.name))) await new Promise((r) => setTimeout(r, 50));
          for (const g of step.partsGot) {
            const p = pushed.get(g.name);
            if (!p || p.bytes !== g.bytes) fail(step, `part ${g.name}: ${g.bytes} B at the viewer, ${p ? `${p.bytes} B` : 'never'} pushed to the origin`);
            else afterOrigin.part.push(g.at - p.at);
          }
          for (const g of step.playlistsGot) {
            const p = pushed.get(g.name);
            if (!p) fail(step, `a playlist listed part ${g.name}, never pushed to the origin`);
            else afterOrigin.playlist.push(g.at - p.at);
          }
        }
        const down = stopped();
        bench.check(!down, `${label}: the origin's pusher published ${parts ? 'parts and segments' : 'a segment every 2 s'} throughout`, `${label}: a relays process stopped (exit ${down?.exitCode}, signal ${down?.signalCode})`);
        bench.check(
          step.failures === 0,
          parts
            ? `${label}: ${fetches}/${fetches} part fetches 200 with the bytes the origin was pushed, every playlist 200 and listing the part it waited for`
            : `${label}: ${fetches}/${fetches} segment fetches 200 with ${urls.segmentBytes} B each, every playlist 200 and listing segments`,
          `${label}: ${step.failures} failed requests besides ${fetches} good ${unit} fetches, e.g. ${step.failureSamples.join('; ')}`,
        );
        bench.check(
          fewest >= least && after.requests > before.requests,
          `${label}: every viewer fetched ${fewest}–${most} ${unit}s (at least ${least}); the origin answered ${after.requests - before.requests} requests`,
          `${label}: the slowest viewer fetched ${fewest} ${unit}s (at least ${least} wanted); origin requests ${after.requests - before.requests}`,
        );
        const half = rss.slice(Math.floor(rss.length / 2));
        const rssLine = rss.length ? `; RSS in the step's second half ${(Math.min(...half) / 1024 ** 2).toFixed(0)}–${(Math.max(...half) / 1024 ** 2).toFixed(0)} MiB (samples every 5 s: ${rss.map((r) => (r / 1024 ** 2).toFixed(0)).join(' ')})` : '';
        const minutes = (Date.now() - started) / 60_000;
        originPerMinute.push((after.requests - before.requests) / minutes);
        bench.figure(
          `${String(count).padStart(5)} viewers: origin ${((after.requests - before.requests) / minutes).toFixed(0).padStart(5)} req/min, ${((after.bytes - before.bytes) / minutes / 1024 / 1024).toFixed(2).padStart(6)} MiB/min; ${unit} fetch p50 ${pct(step.latencies, 0.5).toFixed(1)} ms, p99 ${pct(step.latencies, 0.99).toFixed(1)} ms over ${fetches} fetches${parts ? `; after the origin had the part: the playlist listing it at the viewer p50 ${pct(afterOrigin.playlist, 0.5).toFixed(1)} ms, p99 ${pct(afterOrigin.playlist, 0.99).toFixed(1)} ms, the part p50 ${pct(afterOrigin.part, 0.5).toFixed(1)} ms, p99 ${pct(afterOrigin.part, 0.99).toFixed(1)} ms` : ''}; relays RSS ${(before.rss / 1024 ** 2).toFixed(0)} → ${(after.rss / 1024 ** 2).toFixed(0)} MiB${rssLine}`,
        );
        // --parts: every viewer reloads and fetches within moments of a part's arrival, so most of a part
        // interval's CPU comes due at once; printed per interval beside what the machine's cores offer in one.
        if (parts) {
          const generatorCpu = (viewersCpu.user + viewersCpu.system) / 1e6;
          const intervals = seconds / PART_TARGET_S;
          const perInterval = (cpu: number) => (cpu * 1e3) / intervals;
          const burstMs = perInterval(relaysCpu + generatorCpu);
          bench.figure(
            `${String(count).padStart(5)} viewers: CPU per viewer request: relays ${((relaysCpu * 1e6) / step.requests).toFixed(0)} µs, viewers ${((generatorCpu * 1e6) / step.requests).toFixed(0)} µs over ${step.requests} requests; per part interval ${burstMs.toFixed(0)} ms of CPU (relays ${perInterval(relaysCpu).toFixed(0)}, viewers ${perInterval(generatorCpu).toFixed(0)}), ${((100 * burstMs) / (PART_TARGET_S * 1e3 * cores)).toFixed(0)}% of ${cores} cores`,
          );
        }
        if (receipts) {
          const relaysAfter = await relayTotals();
          const sent = sessions.filter((r) => r && r.sentBytes > 0).length;
          if (mode === 'on') {
            bench.check(
              relaysAfter.kept - relaysBefore.kept === step.receiptsKept && sent === count,
              `${label}: ${step.receiptsKept} receipts answered 204 (POSTed) or kept (riding on segment requests) and counted kept by the edges; every viewer's last receipt acknowledged`,
              `${label}: the edges counted ${relaysAfter.kept - relaysBefore.kept} receipts kept, the viewers got ${step.receiptsKept} × 204; ${sent}/${count} viewers acknowledged`,
            );
          }
          compared.push({ count, mode, sessionStartMs, cpuPerFetch: (relaysAfter.cpu - relaysBefore.cpu) / Math.max(1, fetches), p50: pct(step.latencies, 0.5), p99: pct(step.latencies, 0.99), receipts: step.receiptsKept, signMs: step.signMs });
        }
        bench.progress(`${label} measured`);
      }
      if (receipts) {
        bench.figure(`\nreceipts on/off (relays' CPU per segment served; throughput on/off = CPU off / CPU on, target ≥ 0.95):`);
        for (const count of steps) {
          const off = compared.find((c) => c.count === count && c.mode === 'off')!;
          const on = compared.find((c) => c.count === count && c.mode === 'on')!;
          // Measured from the step's receipts: one per interval while watching, and the last on leaving.
          const perViewerMinute = on.receipts / count / (seconds / 60);
          bench.figure(
            `${String(count).padStart(5)} viewers: relay CPU ${(off.cpuPerFetch * 1e3).toFixed(3)} → ${(on.cpuPerFetch * 1e3).toFixed(3)} ms per segment, throughput on/off ${(off.cpuPerFetch / on.cpuPerFetch).toFixed(3)} (a session's start: ${on.sessionStartMs.toFixed(2)} ms of relay CPU); p50 ${off.p50.toFixed(1)} → ${on.p50.toFixed(1)} ms, p99 ${off.p99.toFixed(1)} → ${on.p99.toFixed(1)} ms; ${perViewerMinute.toFixed(1)} signatures per viewer per minute, ${(on.signMs / Math.max(1, on.receipts)).toFixed(2)} ms each`,
          );
        }
      }
      if (!receipts && originPerMinute.length > 1) bench.figure(`origin requests per minute, most / fewest over the steps: ${(Math.max(...originPerMinute) / Math.min(...originPerMinute)).toFixed(3)}`);
      bench.figure(`\n${seconds} s per step, 3 edges, 1 origin${parts ? `, low-latency CMAF (part target ${PART_TARGET_S} s)` : ''} (target: origin load flat within 10%, p99 < 200 ms at 1,000 viewers)`);
    } finally {
      for (const c of children) c.kill('SIGTERM');
      closeViewers();
    }
  }),
);
