// bench/fanout: simulated viewers spread over three edge relays that pull from one origin, each behaving
// as a live HLS player (blocking playlist reload, then the newest segment). For 10, 100 and 1,000 viewers,
// prints origin requests and bytes per minute and the segment fetch latency the viewers saw. Relays run in
// a child process; loops are bounded by count and time.
// Usage: npm run bench:fanout [-- --seconds 60 --viewers 10,100,1000]

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Agent, get as httpGet } from 'node:http';
import { parseFlags } from '../../cli/options.ts';

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

const child = spawn(process.execPath, [new URL('./relays.ts', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] });
const urls = await new Promise<{ origin: string; edges: string[] }>((resolve) => createInterface({ input: child.stdout! }).once('line', (l) => resolve(JSON.parse(l))));

async function originTotals(): Promise<{ requests: number; bytes: number; rss: number }> {
  const text = (await get(`${urls.origin}/metrics`)).body.toString();
  // All four relays share the child process: this is their resident memory together.
  const rss = Number(/^castnet_process_resident_memory_bytes\{[^}]*\} (\S+)/m.exec(text)?.[1] ?? 0);
  let requests = 0;
  for (const line of text.split('\n')) if (/^castnet_relay_http_requests_total\{[^}]*kind="(segment|media|master)"/.test(line)) requests += Number(line.split(' ').pop());
  const bytes = Number(/^castnet_relay_bytes_served_total\{[^}]*\} (\S+)/m.exec(text)?.[1] ?? 0);
  return { requests, bytes, rss };
}

async function viewer(edge: string, until: number, latencies: number[], errors: { n: number }): Promise<void> {
  const base = `${edge}/hls/fan/source`;
  let last = -1;
  while (Date.now() < until) {
    try {
      const url = last < 0 ? `${base}/index.m3u8` : `${base}/index.m3u8?_HLS_msn=${last + 1}`;
      const playlist = (await get(url)).body.toString('latin1');
      const newest = Number(/(\d+)\.ts\s*$/.exec(playlist)?.[1] ?? -1);
      if (newest > last) {
        const started = performance.now();
        const res = await get(`${base}/${newest}.ts`);
        if (res.status === 200) latencies.push(performance.now() - started);
        else errors.n++;
        last = newest;
      }
    } catch {
      errors.n++;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;
const rows: string[] = [];
try {
  for (const count of steps) {
    const latencies: number[] = [];
    const errors = { n: 0 };
    const before = await originTotals();
    const started = Date.now();
    // Resident memory sampled through the step: with a steady audience it must level off, not climb.
    const rss: number[] = [];
    const sampler = setInterval(() => void originTotals().then((t) => rss.push(t.rss)), 5_000);
    const until = started + seconds * 1000;
    // Viewers join over the first two seconds, as real audiences do not arrive in one instant.
    await Promise.all(
      Array.from({ length: count }, (_, i) => new Promise<void>((r) => setTimeout(r, (i / count) * 2_000)).then(() => viewer(urls.edges[i % urls.edges.length]!, until, latencies, errors))),
    );
    clearInterval(sampler);
    const after = await originTotals();
    const half = rss.slice(Math.floor(rss.length / 2));
    const rssLine = rss.length ? `; RSS in the step's second half ${(Math.min(...half) / 1024 ** 2).toFixed(0)}–${(Math.max(...half) / 1024 ** 2).toFixed(0)} MiB (samples every 5 s: ${rss.map((r) => (r / 1024 ** 2).toFixed(0)).join(' ')})` : '';
    const minutes = (Date.now() - started) / 60_000;
    const row = `${String(count).padStart(5)} viewers: origin ${((after.requests - before.requests) / minutes).toFixed(0).padStart(5)} req/min, ${((after.bytes - before.bytes) / minutes / 1024 / 1024).toFixed(2).padStart(6)} MiB/min; segment fetch p50 ${pct(latencies, 0.5).toFixed(1)} ms, p99 ${pct(latencies, 0.99).toFixed(1)} ms over ${latencies.length} fetches, ${errors.n} errors; relays RSS ${(before.rss / 1024 ** 2).toFixed(0)} → ${(after.rss / 1024 ** 2).toFixed(0)} MiB${rssLine}`;
    rows.push(row);
    console.log(row);
  }
} finally {
  child.kill('SIGTERM');
  agent.destroy();
}
console.log(`\n${seconds} s per step, 3 edges, 1 origin (target: origin load flat within 10%, p99 < 200 ms at 1,000 viewers)`);
