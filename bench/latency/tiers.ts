// bench/latency tiers: how long after the origin has a low-latency part an edge two tiers down has it
// (origin → edge 1 → edge 2, real relays over loopback HTTP, a real FFmpeg publisher over RTMP and the
// broadcaster's CMAF parts). For each part, the preload-hinted part is requested from the origin and from
// edge 2 at the same moment; both requests are held until the part exists there, so the difference of
// their completion times is the edge's lag. Only parts the origin held (it did not have them yet when
// asked) count; bytes must match on both. Prints p50/p95/max over at least --parts parts.
// Usage: npm run bench:tiers [-- --parts 120 --part-target 0.334]

import { parseFlags } from '../../cli/options.ts';
import { createRelay, type Relay } from '../../relay/relay.ts';
import { getText, publish, startNetwork, testLogger, waitFor, type Publisher, type TestNetwork } from '../../test/support/network.ts';
import { runBench } from '../support/report.ts';

const { flags } = parseFlags(process.argv.slice(2));
const wanted = Number(flags.get('parts') ?? 120);
const partTarget = Number(flags.get('part-target') ?? 0.334);
/** An origin answer slower than this was held: the part did not exist when it was asked for. */
const HELD_MS = 20;

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function timed(url: string): Promise<{ status: number; body: Buffer; at: number; took: number }> {
  const started = performance.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = Buffer.from(await res.arrayBuffer());
  const at = performance.now();
  return { status: res.status, body, at, took: at - started };
}

const code = await runBench('latency/tiers', { parts: wanted, partTarget }, async (bench) => {
  let net: TestNetwork | null = null;
  let publisher: Publisher | null = null;
  const edges: Relay[] = [];
  try {
    net = await startNetwork({ lowLatency: true, partTarget });
    publisher = publish(`${net.broadcaster.rtmpUrl}/tiers-bench`);
    const id = net.broadcaster.keys.resolve('tiers-bench')!;
    const origin = `${net.relay.url}/hls/${id}/source`;
    await waitFor('a CMAF segment at the origin', async () => (await getText(`${origin}/index.m3u8`)).text.includes('.m4s\n') || undefined, 40_000);
    for (const parent of [net.relay.url, null]) {
      const r = await createRelay({ httpPort: 0, dataDir: null, orchestrator: net.orchestrator.url, allowPrivateNodes: true, edge: true, discoverParents: false, parents: [parent ?? edges[0]!.url] }, { logger: testLogger });
      await r.start();
      edges.push(r);
    }
    const edge2 = `${edges[1]!.url}/hls/${id}/source`;
    // Edge 2 follows (through edge 1) once a viewer asks.
    bench.check((await getText(`${edge2}/index.m3u8`)).status === 200, 'edge 2 serves the LL playlist');
    const lags: number[] = [];
    let unheld = 0;
    let bytes = 0;
    const deadline = Date.now() + (wanted * partTarget * 3 + 30) * 1_000;
    while (lags.length < wanted && Date.now() < deadline) {
      const text = (await getText(`${origin}/index.m3u8`)).text;
      const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(\d+\.\d+\.m4s)"/.exec(text)?.[1];
      if (hint === undefined) throw new Error(`no preload hint in the origin's playlist:\n${text}`);
      const [o, e] = await Promise.all([timed(`${origin}/${hint}`), timed(`${edge2}/${hint}`)]);
      if (o.status !== 200 || e.status !== 200) throw new Error(`part ${hint}: origin ${o.status}, edge 2 ${e.status}`);
      if (!o.body.equals(e.body)) throw new Error(`part ${hint}: edge 2's bytes differ from the origin's`);
      bytes += e.body.length;
      if (o.took < HELD_MS) {
        unheld++;
        continue;
      }
      lags.push(e.at - o.at);
    }
    bench.check(lags.length >= wanted, `${lags.length} parts the origin held, timed at the origin and at edge 2 (${unheld} not held, left out)`, `only ${lags.length} of ${wanted} parts timed before the deadline`);
    bench.check(true, `every part's bytes identical at the origin and edge 2 (${bytes} bytes)`);
    bench.figure(`part at edge 2 (origin → edge 1 → edge 2) after the origin: p50 ${percentile(lags, 50).toFixed(1)} ms, p95 ${percentile(lags, 95).toFixed(1)} ms, max ${Math.max(...lags).toFixed(1)} ms over ${lags.length} parts (part target ${partTarget} s)`);
  } finally {
    await publisher?.stop();
    await Promise.all(edges.map((r) => r.stop()));
    await net?.close();
  }
});
process.exit(code);
