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
// origin had a part each viewer held the playlist listing it (the edge's follow, wake-up and answer).
// Usage: npm run bench:fanout [-- --seconds 60 --viewers 10,100,1000 --receipts | --parts]

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Agent, get as httpGet, request as httpRequest } from 'node:http';
import { parseFlags } from '../../cli/options.ts';
import { runBench } from '../support/report.ts';
import { randomIdentity, type Identity } from '../../protocol/identity.ts';
import { RECEIPT_ANSWER_HEADER, signCertificate, signReceipt, withReceiptParam, type SignedCertificate, type SignedReceipt } from '../../protocol/delivery-receipt.ts';
import { RECEIPT_INTERVAL_MS } from '../../player/receipts.ts';

const { flags } = parseFlags(process.argv.slice(2));
const seconds = Number(flags.get('seconds') ?? 60);
const steps = String(flags.get('viewers') ?? '10,100,1000').split(',').map(Number);
const receipts = flags.get('receipts') === true;
const parts = flags.get('parts') === true;
if (parts && receipts) throw new Error('--parts and --receipts are measured apart: give one');
const PART_TARGET_S = 0.334;
const payer = randomIdentity();
/** Loopback source addresses viewers post receipts from: the per-address receipt limit is per player. */
const RECEIPT_SOURCES = 250;
// One keep-alive connection per viewer at most, as each player would hold its own.
const agent = new Agent({ keepAlive: true, maxSockets: 4_000 });

function get(url: string, timeoutMs = 10_000): Promise<{ status: number; body: Buffer; receiptAnswer: string | null }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), receiptAnswer: (res.headers[RECEIPT_ANSWER_HEADER] as string | undefined) ?? null }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function postReceipt(url: string, body: string, localAddress: string, timeoutMs = 10_000): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', agent, localAddress, timeout: timeoutMs, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** A viewer's paid-delivery state with --receipts: its session and what it signed. */
interface ViewerReceipts {
  edgeAddress: string;
  key: Identity;
  cert: SignedCertificate;
  localAddress: string;
  bytes: number;
  sentBytes: number;
  lastSent: number;
  sequence: number;
  /** Signed, to ride on the next segment request. */
  due: SignedReceipt | null;
}

const CHILD_START_MS = 30_000;
const FAILURE_SAMPLES = 5;

interface Step {
  latencies: number[];
  fetchesPerViewer: number[];
  failures: number;
  failureSamples: string[];
  /** Receipts answered 204, and the milliseconds spent signing them. */
  receiptsKept: number;
  signMs: number;
  /** --parts: each part a viewer fetched (its name, when it arrived, its size) and each playlist that listed the part it waited for. */
  partsGot: Array<{ name: string; at: number; bytes: number }>;
  playlistsGot: Array<{ name: string; at: number }>;
}

function fail(step: Step, what: string): void {
  step.failures++;
  if (step.failureSamples.length < FAILURE_SAMPLES) step.failureSamples.push(what);
}

/** Signs a receipt when the bytes moved: POSTed when it is the session's first or `final`, else due for the next segment request. */
async function sendReceipt(edge: string, r: ViewerReceipts, step: Step, final: boolean): Promise<void> {
  if (r.bytes === r.sentBytes) return;
  const started = performance.now();
  const signed = signReceipt({ session: r.key.address, playbackId: 'fan', relay: r.edgeAddress, bytes: r.bytes, rendition: 'source', sequence: r.sequence, at: Date.now() }, r.key.privateKey, r.cert);
  step.signMs += performance.now() - started;
  r.lastSent = Date.now();
  r.due = null;
  if (r.sentBytes > 0 && !final) {
    r.due = signed;
    return;
  }
  const body = JSON.stringify(signed);
  try {
    const res = await postReceipt(`${edge}/delivery/fan/receipts`, body, r.localAddress);
    if (res.status === 204) {
      step.receiptsKept++;
      r.sentBytes = r.bytes;
    } else fail(step, `receipt to ${edge}: ${res.status} ${res.body.toString().slice(0, 200)}`);
  } catch (err) {
    fail(step, `receipt to ${edge}: ${(err as Error).message}`);
  }
}

async function viewer(edge: string, until: number, step: Step, index: number, segmentBytes: number, receipts: ViewerReceipts | null): Promise<void> {
  const base = `${edge}/hls/fan/source`;
  let last = -1;
  while (Date.now() < until) {
    if (receipts && Date.now() - receipts.lastSent >= RECEIPT_INTERVAL_MS) await sendReceipt(edge, receipts, step, false);
    try {
      const url = last < 0 ? `${base}/index.m3u8` : `${base}/index.m3u8?_HLS_msn=${last + 1}`;
      const res = await get(url);
      const newest = Number(/(\d+)\.ts\s*$/.exec(res.body.toString('latin1'))?.[1] ?? -1);
      if (res.status !== 200 || newest < 0) {
        fail(step, `${url}: ${res.status}${newest < 0 ? ', no segment listed' : ''}`);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (newest > last) {
        const started = performance.now();
        const riding = receipts?.due ?? null;
        const seg = await get(riding ? withReceiptParam(`${base}/${newest}.ts`, riding) : `${base}/${newest}.ts`);
        if (riding) {
          receipts!.due = null;
          if (seg.receiptAnswer === 'kept') {
            step.receiptsKept++;
            receipts!.sentBytes = Math.max(receipts!.sentBytes, riding.receipt.bytes);
          } else fail(step, `receipt riding to ${edge}: ${seg.receiptAnswer}`);
        }
        if (seg.status === 200 && seg.body.length === segmentBytes) {
          step.latencies.push(performance.now() - started);
          step.fetchesPerViewer[index]!++;
          if (receipts) {
            receipts.bytes += seg.body.length;
            receipts.sequence = newest;
          }
        } else {
          fail(step, `${base}/${newest}.ts: ${seg.status}, ${seg.body.length} bytes`);
        }
        last = newest;
      }
    } catch (err) {
      fail(step, (err as Error).message);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  // Leaving: the last receipt, as a player sends on leaving.
  if (receipts) await sendReceipt(edge, receipts, step, true);
}

const epochNow = () => performance.timeOrigin + performance.now();
const HINT = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(\d+)\.(\d+)\.m4s"/;

/** --parts: a low-latency viewer, as hls.js in lowLatencyMode reloads and loads. */
async function llViewer(edge: string, until: number, step: Step, index: number): Promise<void> {
  const base = `${edge}/hls/fan/source`;
  let url = `${base}/index.m3u8`;
  let waitedFor: string | null = null;
  while (Date.now() < until) {
    try {
      const res = await get(url);
      const at = epochNow();
      const text = res.body.toString('latin1');
      const hint = HINT.exec(text);
      if (res.status !== 200 || !hint) {
        fail(step, `${url}: ${res.status}${hint ? '' : ', no preload hint'}`);
        url = `${base}/index.m3u8`;
        waitedFor = null;
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (waitedFor !== null) {
        if (!text.includes(`URI="${waitedFor}.m4s"`)) fail(step, `${url}: the playlist does not list part ${waitedFor}`);
        else step.playlistsGot.push({ name: waitedFor, at });
        const started = performance.now();
        const part = await get(`${base}/${waitedFor}.m4s`);
        if (part.status === 200) {
          step.latencies.push(performance.now() - started);
          step.partsGot.push({ name: waitedFor, at: epochNow(), bytes: part.body.length });
          step.fetchesPerViewer[index]!++;
        } else fail(step, `${base}/${waitedFor}.m4s: ${part.status}`);
      }
      // The next part: the one the playlist hints at, waited for with a blocking reload.
      waitedFor = `${hint[1]}.${hint[2]}`;
      url = `${base}/index.m3u8?_HLS_msn=${hint[1]}&_HLS_part=${hint[2]}&_HLS_skip=YES`;
    } catch (err) {
      fail(step, (err as Error).message);
      url = `${base}/index.m3u8`;
      waitedFor = null;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;

process.exit(
  await runBench('fanout', { seconds, viewers: steps.join(','), edges: 3, origins: 1, segmentSeconds: 2, receipts, ...(parts ? { partTarget: PART_TARGET_S } : {}) }, async (bench) => {
    const child = spawn(process.execPath, [new URL('./relays.ts', import.meta.url).pathname, ...(receipts ? ['--receipts', payer.address] : []), ...(parts ? ['--parts', String(PART_TARGET_S)] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
    /** --parts: what the origin took of each part (its size, and when it answered the push). */
    const pushed = new Map<string, { bytes: number; at: number }>();
    try {
      const urls = await new Promise<{ origin: string; edges: string[]; edgeAddresses: string[]; segmentBytes: number }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the relays did not start within ${CHILD_START_MS} ms`)), CHILD_START_MS);
        child.once('exit', (code) => reject(new Error(`the relays' process exited (${code}) before starting`)));
        let first = true;
        createInterface({ input: child.stdout! }).on('line', (l) => {
          if (!first) {
            const p = JSON.parse(l) as { part: string; bytes: number; at: number };
            pushed.set(p.part, { bytes: p.bytes, at: p.at });
            return;
          }
          first = false;
          clearTimeout(timer);
          resolve(JSON.parse(l));
        });
      });
      const childAlive = () => child.exitCode === null && child.signalCode === null;

      /** CPU seconds of the relays' process (all four relays) and the receipts the edges kept. */
      async function relayTotals(): Promise<{ cpu: number; kept: number }> {
        let cpu = 0;
        let kept = 0;
        for (const [i, url] of [urls.origin, ...urls.edges].entries()) {
          const res = await get(`${url}/metrics`);
          if (res.status !== 200) throw new Error(`${url}/metrics answered ${res.status}`);
          const text = res.body.toString();
          if (i === 0) cpu = Number(/^castnet_process_cpu_seconds_total(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? NaN);
          else kept += Number(/^castnet_relay_delivery_receipts_total\{[^}]*result="kept"[^}]*\} (\S+)/m.exec(text)?.[1] ?? 0);
        }
        return { cpu, kept };
      }
      const originPerMinute: number[] = [];
      const compared: Array<{ count: number; mode: 'off' | 'on'; sessionStartMs: number; cpuPerFetch: number; p50: number; p99: number; receipts: number; signMs: number }> = [];

      async function originTotals(): Promise<{ requests: number; bytes: number; rss: number }> {
        const res = await get(`${urls.origin}/metrics`);
        if (res.status !== 200) throw new Error(`origin /metrics answered ${res.status}`);
        const text = res.body.toString();
        // All four relays share the child process: this is their resident memory together.
        const rss = Number(/^castnet_process_resident_memory_bytes\{[^}]*\} (\S+)/m.exec(text)?.[1] ?? 0);
        let requests = 0;
        for (const line of text.split('\n')) if (/^castnet_relay_http_requests_total\{[^}]*kind="(segment|media|master|part|init)"/.test(line)) requests += Number(line.split(' ').pop());
        const bytes = Number(/^castnet_relay_bytes_served_total\{[^}]*\} (\S+)/m.exec(text)?.[1] ?? 0);
        return { requests, bytes, rss };
      }

      for (const [count, mode] of steps.flatMap((c) => (receipts ? ([[c, 'off'], [c, 'on']] as const) : ([[c, 'off']] as const)))) {
        const label = receipts ? `${count} viewers, receipts ${mode}` : `${count} viewers`;
        const step: Step = { latencies: [], fetchesPerViewer: new Array<number>(count).fill(0), failures: 0, failureSamples: [], receiptsKept: 0, signMs: 0, partsGot: [], playlistsGot: [] };
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
                if (seg.status !== 200 || seg.body.length !== urls.segmentBytes) return fail(step, `warm-up segment from ${edge}: ${seg.status}`);
                r!.bytes += seg.body.length;
                r!.sequence = newest;
                await sendReceipt(edge, r!, step, false);
              }),
            );
          }
          sessionStartMs = (((await relayTotals()).cpu - cpuBefore) * 1e3) / count;
          step.receiptsKept = 0;
          step.signMs = 0;
        }
        const relaysBefore = receipts ? await relayTotals() : null;
        const before = await originTotals();
        const started = Date.now();
        // Resident memory sampled through the step: with a steady audience it must level off, not climb.
        const rss: number[] = [];
        const sampler = setInterval(() => void originTotals().then((t) => rss.push(t.rss), () => undefined), 5_000);
        const until = started + seconds * 1000;
        // Viewers join over the first two seconds, as real audiences do not arrive in one instant.
        await Promise.all(
          Array.from({ length: count }, (_, i) => new Promise<void>((r) => setTimeout(r, (i / count) * 2_000)).then(() => (parts ? llViewer(urls.edges[i % urls.edges.length]!, until, step, i) : viewer(urls.edges[i % urls.edges.length]!, until, step, i, urls.segmentBytes, sessions[i]!)))),
        );
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
        bench.check(childAlive(), `${label}: the origin's pusher published ${parts ? 'parts and segments' : 'a segment every 2 s'} throughout`, `${label}: the relays' process stopped (exit ${child.exitCode}, signal ${child.signalCode})`);
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
        if (relaysBefore) {
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
      child.kill('SIGTERM');
      agent.destroy();
    }
  }),
);
