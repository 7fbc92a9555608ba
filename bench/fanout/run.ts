// bench/fanout: simulated viewers spread over three edge relays that pull from one origin, each behaving
// as a live HLS player (blocking playlist reload, then the newest segment). For 10, 100 and 1,000 viewers,
// prints origin requests and bytes per minute and the segment fetch latency the viewers saw. Relays run in
// a child process; loops are bounded by count and time. Figures are printed only after checking every
// playlist and segment response (200, the pushed segment's size), that every viewer kept up, and that the
// origin's pusher never stopped.
// Usage: npm run bench:fanout [-- --seconds 60 --viewers 10,100,1000]

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Agent, get as httpGet } from 'node:http';
import { parseFlags } from '../../cli/options.ts';
import { runBench } from '../support/report.ts';

const { flags } = parseFlags(process.argv.slice(2));
const seconds = Number(flags.get('seconds') ?? 60);
const steps = String(flags.get('viewers') ?? '10,100,1000').split(',').map(Number);
// One keep-alive connection per viewer at most, as each player would hold its own.
const agent = new Agent({ keepAlive: true, maxSockets: 4_000 });

function get(url: string, timeoutMs = 10_000): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const CHILD_START_MS = 30_000;
const FAILURE_SAMPLES = 5;

interface Step {
  latencies: number[];
  fetchesPerViewer: number[];
  failures: number;
  failureSamples: string[];
}

function fail(step: Step, what: string): void {
  step.failures++;
  if (step.failureSamples.length < FAILURE_SAMPLES) step.failureSamples.push(what);
}

async function viewer(edge: string, until: number, step: Step, index: number, segmentBytes: number): Promise<void> {
  const base = `${edge}/hls/fan/source`;
  let last = -1;
  while (Date.now() < until) {
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
        const seg = await get(`${base}/${newest}.ts`);
        if (seg.status === 200 && seg.body.length === segmentBytes) {
          step.latencies.push(performance.now() - started);
          step.fetchesPerViewer[index]!++;
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
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;

process.exit(
  await runBench('fanout', { seconds, viewers: steps.join(','), edges: 3, origins: 1, segmentSeconds: 2 }, async (bench) => {
    const child = spawn(process.execPath, [new URL('./relays.ts', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const urls = await new Promise<{ origin: string; edges: string[]; segmentBytes: number }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the relays did not start within ${CHILD_START_MS} ms`)), CHILD_START_MS);
        child.once('exit', (code) => reject(new Error(`the relays' process exited (${code}) before starting`)));
        createInterface({ input: child.stdout! }).once('line', (l) => {
          clearTimeout(timer);
          resolve(JSON.parse(l));
        });
      });
      const childAlive = () => child.exitCode === null && child.signalCode === null;

      async function originTotals(): Promise<{ requests: number; bytes: number; rss: number }> {
        const res = await get(`${urls.origin}/metrics`);
        if (res.status !== 200) throw new Error(`origin /metrics answered ${res.status}`);
        const text = res.body.toString();
        // All four relays share the child process: this is their resident memory together.
        const rss = Number(/^castnet_process_resident_memory_bytes\{[^}]*\} (\S+)/m.exec(text)?.[1] ?? 0);
        let requests = 0;
        for (const line of text.split('\n')) if (/^castnet_relay_http_requests_total\{[^}]*kind="(segment|media|master)"/.test(line)) requests += Number(line.split(' ').pop());
        const bytes = Number(/^castnet_relay_bytes_served_total\{[^}]*\} (\S+)/m.exec(text)?.[1] ?? 0);
        return { requests, bytes, rss };
      }

      for (const count of steps) {
        const step: Step = { latencies: [], fetchesPerViewer: new Array<number>(count).fill(0), failures: 0, failureSamples: [] };
        const before = await originTotals();
        const started = Date.now();
        // Resident memory sampled through the step: with a steady audience it must level off, not climb.
        const rss: number[] = [];
        const sampler = setInterval(() => void originTotals().then((t) => rss.push(t.rss), () => undefined), 5_000);
        const until = started + seconds * 1000;
        // Viewers join over the first two seconds, as real audiences do not arrive in one instant.
        await Promise.all(
          Array.from({ length: count }, (_, i) => new Promise<void>((r) => setTimeout(r, (i / count) * 2_000)).then(() => viewer(urls.edges[i % urls.edges.length]!, until, step, i, urls.segmentBytes))),
        );
        clearInterval(sampler);
        const after = await originTotals();
        const fetches = step.latencies.length;
        const fewest = Math.min(...step.fetchesPerViewer);
        const most = Math.max(...step.fetchesPerViewer);
        // A segment every 2 s: a viewer that kept up fetched about seconds / 2; half of that is the least allowed.
        const least = Math.max(1, Math.floor(seconds / 4));
        bench.check(childAlive(), `${count} viewers: the origin's pusher published a segment every 2 s throughout`, `${count} viewers: the relays' process stopped (exit ${child.exitCode}, signal ${child.signalCode})`);
        bench.check(
          step.failures === 0,
          `${count} viewers: ${fetches}/${fetches} segment fetches 200 with ${urls.segmentBytes} B each, every playlist 200 and listing segments`,
          `${count} viewers: ${step.failures} failed requests besides ${fetches} good segment fetches, e.g. ${step.failureSamples.join('; ')}`,
        );
        bench.check(
          fewest >= least && after.requests > before.requests,
          `${count} viewers: every viewer fetched ${fewest}–${most} segments (at least ${least}); the origin answered ${after.requests - before.requests} requests`,
          `${count} viewers: the slowest viewer fetched ${fewest} segments (at least ${least} wanted); origin requests ${after.requests - before.requests}`,
        );
        const half = rss.slice(Math.floor(rss.length / 2));
        const rssLine = rss.length ? `; RSS in the step's second half ${(Math.min(...half) / 1024 ** 2).toFixed(0)}–${(Math.max(...half) / 1024 ** 2).toFixed(0)} MiB (samples every 5 s: ${rss.map((r) => (r / 1024 ** 2).toFixed(0)).join(' ')})` : '';
        const minutes = (Date.now() - started) / 60_000;
        bench.figure(
          `${String(count).padStart(5)} viewers: origin ${((after.requests - before.requests) / minutes).toFixed(0).padStart(5)} req/min, ${((after.bytes - before.bytes) / minutes / 1024 / 1024).toFixed(2).padStart(6)} MiB/min; segment fetch p50 ${pct(step.latencies, 0.5).toFixed(1)} ms, p99 ${pct(step.latencies, 0.99).toFixed(1)} ms over ${fetches} fetches; relays RSS ${(before.rss / 1024 ** 2).toFixed(0)} → ${(after.rss / 1024 ** 2).toFixed(0)} MiB${rssLine}`,
        );
        bench.progress(`${count} viewers measured`);
      }
      bench.figure(`\n${seconds} s per step, 3 edges, 1 origin (target: origin load flat within 10%, p99 < 200 ms at 1,000 viewers)`);
    } finally {
      child.kill('SIGTERM');
      agent.destroy();
    }
  }),
);
