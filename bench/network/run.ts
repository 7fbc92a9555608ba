// bench/network: the orchestrator's real registry, sessions and scheduler, in one process without FFmpeg
// or HTTP, at the size of a large network: 1,000 transcoders and 1,000 relays of mixed capacity and price.
// Streams join and leave at about 50% and 90% of the network's capacity (a saturated network loads every
// node fully, so its balance figure would say nothing), then a separate step opens streams past capacity
// and counts the refused ones. Prints time per assignment, memory, and how evenly load spreads (max/mean
// of assigned streams ÷ capacity over the transcoders) per load, after checking every assignment.
// Usage: npm run bench:network [-- --transcoders 1000 --relays 1000 --loads 0.5,0.9 --over 1.1]

import { parseFlags } from '../../cli/options.ts';
import { NodeRegistry } from '../../orchestrator/node-registry.ts';
import { CapacityPriceScheduler } from '../../orchestrator/scheduler.ts';
import { StreamSessions } from '../../orchestrator/stream-sessions.ts';
import { runBench, type Bench } from '../support/report.ts';

const TRANSCODERS_PER_STREAM = 2; // StreamSessions' default: a primary and a spare
const STEP_LIMIT_MS = 120_000;
const { flags } = parseFlags(process.argv.slice(2));
const transcoders = Number(flags.get('transcoders') ?? 1000);
const relays = Number(flags.get('relays') ?? 1000);
const loads = String(flags.get('loads') ?? '0.5,0.9').split(',').map(Number);
const over = Number(flags.get('over') ?? 1.1);

// A deterministic generator, so runs are comparable.
let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

const heapBefore = process.memoryUsage().heapUsed;
// One process registers every node: the registry's per-source caps, which bound strangers, do not apply.
const UNBOUNDED = 1e9;
const nodes = new NodeRegistry({ timeoutMs: 60_000, limits: { maxNodes: UNBOUNDED, maxNodesPerSource: UNBOUNDED, newNodesPerMinute: UNBOUNDED } });
for (let i = 0; i < transcoders; i++) {
  nodes.register({
    role: 'transcoder',
    url: `http://transcoder-${i}.example:8936`,
    // Records are keyed by their key's address; the bench's registry has no URL prover, so each is taken as proved.
    paymentAddress: `0x${(i + 1).toString(16).padStart(40, '0')}`,
    version: '0.1.0',
    capabilities: { encoders: i % 10 === 0 ? ['h264_nvenc', 'libx264'] : ['libx264'], maxSessions: 8 + Math.floor(random() * 25), pricePerPixel: String(1 + Math.floor(random() * 4)) },
    load: { sessions: 0, inFlight: 0 },
  });
}
for (let i = 0; i < relays; i++) {
  nodes.register({ role: 'relay', url: `http://relay-${i}.example:8080`, paymentAddress: `0x${(transcoders + i + 1).toString(16).padStart(40, '0')}`, version: '0.1.0', capabilities: { encoders: [], maxSessions: 50 + Math.floor(random() * 100), pricePerPixel: '0' }, load: { sessions: 0, inFlight: 0 } });
}
const transcoderSlots = nodes.list('transcoder').reduce((sum, n) => sum + n.capabilities.maxSessions, 0);
const relaySlots = nodes.list('relay').reduce((sum, n) => sum + n.capabilities.maxSessions, 0);
// Streams the network can carry with a spare transcoder each: every price is under the streams' maximum.
const capacity = Math.min(Math.floor(transcoderSlots / TRANSCODERS_PER_STREAM), relaySlots);

const newSessions = () => new StreamSessions({ nodes, scheduler: new CapacityPriceScheduler(), ttlMs: 3_600_000, transcodersPerStream: TRANSCODERS_PER_STREAM, maxStreamsPerKey: UNBOUNDED, maxStreams: UNBOUNDED });
const request = (playbackId: string) => ({ playbackId, broadcaster: 'bench', renditions: [], startedAt: new Date().toISOString(), avoid: [], maxPricePerPixel: '4' });

/** No node carries more streams than its capacity, and the per-node counters add up to the live streams. */
function checkBookkeeping(bench: Bench, label: string, sessions: StreamSessions, live: number, transcoderAssignments: number): void {
  const overbooked = nodes.list().filter((n) => sessions.assigned(n.id) > n.capabilities.maxSessions).length;
  const onTranscoders = nodes.list('transcoder').reduce((sum, n) => sum + sessions.assigned(n.id), 0);
  const onRelays = nodes.list('relay').reduce((sum, n) => sum + sessions.assigned(n.id), 0);
  bench.check(
    overbooked === 0 && sessions.size === live && onRelays === live && onTranscoders === transcoderAssignments,
    `${label}: ${live} live streams, relay counters ${onRelays}, transcoder counters ${onTranscoders} as assigned, no node over its capacity`,
    `${label}: ${overbooked} nodes over capacity; ${sessions.size} sessions, ${live} live; relay counters ${onRelays}; transcoder counters ${onTranscoders}, ${transcoderAssignments} assigned`,
  );
}

/** Streams join until `target` are live, one in four events a stream leaving; then the audience churns at the full size. */
function loadStep(bench: Bench, load: number): void {
  const target = Math.round(load * capacity);
  const label = `load ${load}`;
  const sessions = newSessions();
  const active: string[] = [];
  const times: number[] = [];
  let next = 0;
  let opened = 0;
  let closed = 0;
  let short = 0;
  const started = performance.now();
  while (opened < target * 2 && performance.now() - started < STEP_LIMIT_MS) {
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
    const { assignment } = sessions.open(request(playbackId));
    times.push(performance.now() - t0);
    if (assignment.transcoders.length < TRANSCODERS_PER_STREAM) short++;
    active.push(playbackId);
    opened++;
  }
  bench.check(opened >= target * 2, `${label}: ${opened} streams opened, ${closed} closed, within ${STEP_LIMIT_MS / 1000} s`, `${label}: only ${opened} of ${target * 2} streams opened within ${STEP_LIMIT_MS / 1000} s`);
  bench.check(short === 0, `${label}: ${opened}/${opened} streams got a relay and ${TRANSCODERS_PER_STREAM} transcoders (none refused below capacity)`, `${label}: ${short} of ${opened} streams got fewer than ${TRANSCODERS_PER_STREAM} transcoders below capacity`);
  checkBookkeeping(bench, label, sessions, active.length, active.length * TRANSCODERS_PER_STREAM);
  bench.check(active.length >= target - 1 && active.length <= target, `${label}: ${active.length} live at the end, target ${target}`, `${label}: ${active.length} live at the end, target ${target}`);

  const transcoderLoads = nodes.list('transcoder').map((n) => sessions.assigned(n.id) / n.capabilities.maxSessions);
  const mean = transcoderLoads.reduce((a, b) => a + b, 0) / transcoderLoads.length;
  const max = Math.max(...transcoderLoads);
  const sorted = [...times].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
  bench.figure(`load ${load} (${active.length} live streams of ${capacity}): ${opened} opened, ${closed} closed`);
  bench.figure(`  assignment time: mean ${((times.reduce((a, b) => a + b, 0) / times.length) * 1000).toFixed(1)} µs, p50 ${(q(0.5) * 1000).toFixed(1)} µs, p99 ${(q(0.99) * 1000).toFixed(1)} µs (target < 1 ms)`);
  bench.figure(`  memory: heap +${((process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024).toFixed(1)} MiB for the registry and ${active.length} sessions`);
  bench.figure(`  transcoder load (assigned ÷ capacity): mean ${mean.toFixed(3)}, max ${max.toFixed(3)}, max/mean ${(max / mean).toFixed(3)} (target < 1.25)`);
}

/** Streams only join, past capacity: how many are refused (no transcoder) or run without a spare. */
function overCapacityStep(bench: Bench): void {
  const total = Math.round(over * capacity);
  const sessions = newSessions();
  let refused = 0;
  let withoutSpare = 0;
  let firstShort = -1;
  let transcoderAssignments = 0;
  for (let i = 0; i < total; i++) {
    const { assignment } = sessions.open(request(`over-${i}`));
    transcoderAssignments += assignment.transcoders.length;
    if (assignment.transcoders.length === 0) refused++;
    else if (assignment.transcoders.length < TRANSCODERS_PER_STREAM) withoutSpare++;
    if (assignment.transcoders.length < TRANSCODERS_PER_STREAM && firstShort < 0) firstShort = i;
  }
  checkBookkeeping(bench, `over capacity`, sessions, total, transcoderAssignments);
  bench.check(
    transcoderAssignments === transcoderSlots && refused > 0,
    `over capacity: every transcoder slot filled (${transcoderAssignments}/${transcoderSlots}), so the step ran past capacity`,
    `over capacity: ${transcoderAssignments} of ${transcoderSlots} transcoder slots filled, ${refused} streams refused: the step did not run past capacity`,
  );
  bench.figure(`over capacity (${total} streams opened, capacity ${capacity}): ${refused} refused (no transcoder: published as source only), ${withoutSpare} without a spare transcoder; first short of a spare at stream ${firstShort + 1} (${((firstShort + 1) / capacity).toFixed(3)} of capacity)`);
}

const parameters = { transcoders, relays, transcoderSlots, relaySlots, transcodersPerStream: TRANSCODERS_PER_STREAM, capacity: `${capacity} streams`, loads: loads.join(','), over };
process.exit(
  await runBench('network', parameters, async (bench) => {
    for (const load of loads) loadStep(bench, load);
    overCapacityStep(bench);
  }),
);
