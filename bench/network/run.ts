// bench/network: the orchestrator's real registry, sessions and scheduler, in one process without FFmpeg
// or HTTP, at the size of a large network: 1,000 transcoders and 1,000 relays of mixed capacity and price,
// 10,000 streams joining and leaving. Prints time per assignment, memory, and how evenly load spreads
// (max/mean of assigned streams ÷ capacity over the transcoders).
// Usage: npm run bench:network [-- --transcoders 1000 --relays 1000 --streams 10000]

import { parseFlags } from '../../cli/options.ts';
import { NodeRegistry } from '../../orchestrator/node-registry.ts';
import { CapacityPriceScheduler } from '../../orchestrator/scheduler.ts';
import { StreamSessions } from '../../orchestrator/stream-sessions.ts';

const { flags } = parseFlags(process.argv.slice(2));
const transcoders = Number(flags.get('transcoders') ?? 1000);
const relays = Number(flags.get('relays') ?? 1000);
const target = Number(flags.get('streams') ?? 10000);

// A deterministic generator, so runs are comparable.
let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

const heapBefore = process.memoryUsage().heapUsed;
const nodes = new NodeRegistry({ timeoutMs: 60_000 });
for (let i = 0; i < transcoders; i++) {
  nodes.register({
    role: 'transcoder',
    url: `http://transcoder-${i}.example:8936`,
    version: '0.1.0',
    capabilities: { encoders: i % 10 === 0 ? ['h264_nvenc', 'libx264'] : ['libx264'], maxSessions: 8 + Math.floor(random() * 25), pricePerPixel: String(1 + Math.floor(random() * 4)) },
    load: { sessions: 0, inFlight: 0 },
  });
}
for (let i = 0; i < relays; i++) {
  nodes.register({ role: 'relay', url: `http://relay-${i}.example:8080`, version: '0.1.0', capabilities: { encoders: [], maxSessions: 50 + Math.floor(random() * 100), pricePerPixel: '0' }, load: { sessions: 0, inFlight: 0 } });
}
const sessions = new StreamSessions({ nodes, scheduler: new CapacityPriceScheduler(), ttlMs: 3_600_000 });

const active: string[] = [];
const times: number[] = [];
let next = 0;
let opened = 0;
let closed = 0;
// Streams join until `target` are live, with one in four events a stream leaving; then the audience
// churns at the full size: each event closes one stream and opens another.
const started = performance.now();
while (opened < target * 2 && performance.now() - started < 120_000) {
  if (active.length > 0 && (random() < 0.25 || active.length >= target)) {
    const i = Math.floor(random() * active.length);
    sessions.close(active[i]!);
    active[i] = active[active.length - 1]!;
    active.pop();
    closed++;
    if (active.length < target - 1) continue;
  }
  const playbackId = `stream-${next++}`;
  const t0 = performance.now();
  sessions.open({ playbackId, broadcaster: 'bench', renditions: [], startedAt: new Date().toISOString(), avoid: [], maxPricePerPixel: '4' });
  times.push(performance.now() - t0);
  active.push(playbackId);
  opened++;
}
const heapAfter = process.memoryUsage().heapUsed;

const loads = nodes.list('transcoder').map((n) => sessions.assigned(n.id) / n.capabilities.maxSessions);
const mean = loads.reduce((a, b) => a + b, 0) / loads.length;
const max = Math.max(...loads);
const sorted = [...times].sort((a, b) => a - b);
const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
console.log(`${transcoders} transcoders, ${relays} relays; ${opened} streams opened, ${closed} closed, ${active.length} live at the end`);
console.log(`assignment time: mean ${(times.reduce((a, b) => a + b, 0) / times.length * 1000).toFixed(1)} µs, p50 ${(q(0.5) * 1000).toFixed(1)} µs, p99 ${(q(0.99) * 1000).toFixed(1)} µs (target < 1 ms)`);
console.log(`memory: heap +${((heapAfter - heapBefore) / 1024 / 1024).toFixed(1)} MiB for the registry and ${active.length} sessions`);
console.log(`transcoder load (assigned ÷ capacity): mean ${mean.toFixed(3)}, max ${max.toFixed(3)}, max/mean ${(max / mean).toFixed(3)} (target < 1.25)`);
