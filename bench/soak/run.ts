// bench/soak: a whole network, each node its own process, under honest load and hostile background traffic
// for a long time. Several streams (FFmpeg publishers over RTMP) go broadcaster → transcoders → origin relay
// → two edge relays (a second tier pulling from the origin) → simulated viewers; meanwhile 404 floods,
// malformed and stalled RTMP connections, stalled and oversized uploads and idle-connection floods hit the
// nodes, and every --kill-every-s one transcoder and one edge are killed with SIGKILL and restarted on the
// same port. Every few seconds it samples each node's RSS, open descriptors and active handles.
// It checks: no source segment lost at the origin, viewers' fetches answered, every hostile request refused
// the way the limits say (503, 408, 413, closed), and each long-lived node's RSS, descriptors and handles
// flat (last quarter against the second quarter), and Chromium viewers (the real player, on an edge, failing
// over to the other edge when theirs is killed) never stalled for more than one segment; then prints the
// figures. A failed check prints none.
// Usage: npm run bench:soak [-- --duration-s 600 --streams 3 --viewers 150 --chromium-viewers 1 --kill-every-s 120]

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags } from '../../cli/options.ts';
import { ffmpegBinaries } from '../../media/ffmpeg-binaries.ts';
import { testPatternArgs } from '../../media/test-pattern.ts';
import { launchChromium } from '../../test/support/browser.ts';
import { median, runBench, type Bench } from '../support/report.ts';

const { flags } = parseFlags(process.argv.slice(2));
const durationS = Number(flags.get('duration-s') ?? process.env.SOAK_SECONDS ?? 600);
const streamCount = Number(flags.get('streams') ?? 3);
const viewerCount = Number(flags.get('viewers') ?? 150);
const killEveryS = Number(flags.get('kill-every-s') ?? 120);
const chromiumViewers = Number(flags.get('chromium-viewers') ?? 1);
const SAMPLE_EVERY_MS = 5_000;
const SEGMENT_SECONDS = 2;
// The idle-connection flood against an edge: more connections than its per-address cap (the default cap).
const EDGE_CONNECTIONS_PER_IP = 256;
const IDLE_FLOOD = 400;
const START_MS = 60_000;
const root = mkdtempSync(join(tmpdir(), 'castnet-soak-'));

// ---------------------------------------------------------------------------------------------- nodes

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

interface Sample {
  at: number;
  rss: number;
  fds: number;
  handles: number;
}

/** One node process, restartable on the same port and data directory. */
class NodeProcess {
  child: ChildProcess | null = null;
  url = '';
  restarts = 0;
  readonly samples: Sample[] = [];
  /** Refusal counters read before each kill (a restart resets them), by metric and reason. */
  readonly refusedBeforeKills = new Map<string, number>();
  private tail = '';
  readonly name: string;
  readonly role: string;
  private readonly args: string[];
  readonly metricsUrl: () => string;
  constructor(name: string, role: string, args: string[], metricsUrl: () => string) {
    this.name = name;
    this.role = role;
    this.args = args;
    this.metricsUrl = metricsUrl;
  }

  async start(): Promise<void> {
    this.tail = '';
    const child = spawn(process.execPath, ['bin/castnet.js', this.role, ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CASTNET_LOG_LEVEL: 'info', CASTNET_LOG_FORMAT: 'json', TMPDIR: join(root, `${this.name}-tmp`) },
    });
    const keep = (d: Buffer) => (this.tail = (this.tail + d.toString()).slice(-8_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.child = child;
    this.url = await until(`${this.name} to listen`, () => {
      if (child.exitCode !== null) throw new Error(`${this.name} exited with ${child.exitCode}: ${this.tail.slice(-1_000)}`);
      return /"(?:url|http)":"(http:\/\/[^"]+)"[^\n]*listening/.exec(this.tail)?.[1];
    }, START_MS);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  get output(): string {
    return this.tail;
  }
}

mkdirs();
function mkdirs(): void {
  for (const d of ['orchestrator', 'origin', 'edge-1', 'edge-2', 'transcoder-1', 'transcoder-2', 'broadcaster']) {
    mkdirSync(join(root, `${d}-tmp`), { recursive: true });
  }
}

function readMetrics(text: string, name: RegExp): Array<{ labels: string; value: number }> {
  const out: Array<{ labels: string; value: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && name.test(m[1]!)) out.push({ labels: `${m[1]}${m[2] ?? ''}`, value: Number(m[3]) });
  }
  return out;
}

async function metricsText(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) });
  return res.text();
}

const REFUSALS = /^castnet_[a-z]+_(http_refused_total|refused_total|rtmp_refused_total|publish_refused_total|log_lines_suppressed_total|log_lines_dropped_total)$/;

async function sample(node: NodeProcess): Promise<void> {
  const pid = node.pid;
  if (!pid) return;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    const handles = readMetrics(await metricsText(node.metricsUrl()), /^castnet_nodejs_active_handles_total$/).reduce((a, m) => a + m.value, 0);
    node.samples.push({ at: Date.now(), rss, fds, handles });
  } catch {
    // A node being restarted has no process or answers no metrics now: no sample.
  }
}

async function refusalsOf(node: NodeProcess): Promise<Map<string, number>> {
  const counts = new Map(node.refusedBeforeKills);
  try {
    for (const m of readMetrics(await metricsText(node.metricsUrl()), REFUSALS)) counts.set(m.labels, (counts.get(m.labels) ?? 0) + m.value);
  } catch {
    // restarting
  }
  return counts;
}

// -------------------------------------------------------------------------------------------- traffic

interface ViewerStats {
  fetches: number;
  failures: number;
  failovers: number;
  /** Longest time a viewer saw no new segment, ms. */
  longestStallMs: number;
  /** Stalls longer than two segment durations (more than one segment missed). */
  longStalls: number;
  failureSamples: string[];
}

async function get(url: string, timeoutMs = 10_000): Promise<{ status: number; bytes: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const buf = Buffer.from(await res.arrayBuffer());
  return { status: res.status, bytes: buf.length, text: res.headers.get('content-type')?.includes('mpegurl') ? buf.toString('utf8') : '' };
}

function newestSeq(playlist: string): number {
  const seqs = playlist.split('\n').filter((l) => l.endsWith('.ts')).map((l) => Number(l.replace('.ts', '')));
  return seqs.length > 0 ? Math.max(...seqs) : -1;
}

/** A live player: polls its edge's playlist, fetches each new segment, moves to the other edge when one fails. */
async function viewer(edges: () => string[], playbackId: string, index: number, stopAt: number, stats: ViewerStats): Promise<void> {
  let edge = index % 2;
  let last = -1;
  let progressAt = Date.now();
  await new Promise((r) => setTimeout(r, (index * 37) % 2_000));
  while (Date.now() < stopAt) {
    const base = `${edges()[edge]}/hls/${playbackId}/source`;
    try {
      const playlist = await get(`${base}/index.m3u8`, 5_000);
      stats.fetches++;
      if (playlist.status !== 200) throw new Error(`playlist ${playlist.status}`);
      const seq = newestSeq(playlist.text);
      if (seq > last) {
        const segment = await get(`${base}/${seq}.ts`);
        stats.fetches++;
        if (segment.status !== 200 || segment.bytes === 0 || segment.bytes % 188 !== 0) throw new Error(`segment ${seq}: ${segment.status}, ${segment.bytes} bytes`);
        if (last >= 0) {
          const stall = Date.now() - progressAt;
          stats.longestStallMs = Math.max(stats.longestStallMs, stall);
          if (stall > 2 * SEGMENT_SECONDS * 1_000 + 1_000) stats.longStalls++;
        }
        last = seq;
        progressAt = Date.now();
      }
    } catch (err) {
      stats.failures++;
      if (stats.failureSamples.length < 5) stats.failureSamples.push(`${edges()[edge]}: ${(err as Error).message}`);
      edge = (edge + 1) % 2;
      stats.failovers++;
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

interface BrowserViewerStats {
  /** Wall time the video played (currentTime advanced at least once), ms. */
  playedMs: number;
  /** Longest time the video's currentTime did not advance after it first played, ms. */
  longestStallMs: number;
  /** Stalls longer than one segment. */
  longStalls: number;
  failovers: number;
  errors: string[];
}

/**
 * Real players: Chromium on an edge's watch page, told both edges as its failover list (the edges here are
 * not in the orchestrator's directory). The page measures its own stalls: every 100 ms it checks whether the
 * video's currentTime advanced; the longest gap between advances, after the first, is the stall.
 */
async function browserViewers(count: number, edges: () => string[], playbackIds: string[], stopAt: number): Promise<BrowserViewerStats[]> {
  if (count === 0) return [];
  const browser = await launchChromium();
  try {
    const pages = await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const page = await browser.newPage();
        const all = edges();
        await page.goto(`${all[i % all.length]}/watch/${playbackIds[i % playbackIds.length]}`);
        await page.evaluate(([list, oneSegmentMs]: [string[], number]) => {
          const el = document.querySelector('castnet-player')!;
          el.setAttribute('relays', `data:application/json,${encodeURIComponent(JSON.stringify(list))}`);
          const state = { first: 0, last: 0, lastTime: -1, longest: 0, over: 0, start: performance.now(), relay: '', logged: false, log: [] as string[] };
          (window as unknown as { soak: typeof state }).soak = state;
          setInterval(() => {
            const v = (el as unknown as { video: HTMLVideoElement }).video;
            const now = performance.now();
            const relay = String((el as unknown as { relay: string | null }).relay);
            if (relay !== state.relay) {
              state.log.push(`${((now - state.start) / 1000).toFixed(1)}s on ${relay}`);
              state.relay = relay;
            }
            // A failover attaches a new MediaSource whose timeline may start lower: that is a restart, not a stall.
            if (v.currentTime < state.lastTime - 0.5) state.lastTime = v.currentTime;
            if (state.first && now - state.last > 3_000 && !state.logged) {
              state.logged = true;
              const ranges = Array.from({ length: v.buffered.length }, (_, k) => `${v.buffered.start(k).toFixed(1)}-${v.buffered.end(k).toFixed(1)}`).join(',');
              state.log.push(`${((now - state.start) / 1000).toFixed(1)}s stuck at ${v.currentTime.toFixed(1)} (was ${state.lastTime.toFixed(1)}), readyState ${v.readyState}, paused ${v.paused}, buffered ${ranges}`);
            }
            if (v.currentTime > state.lastTime + 0.01) {
              if (state.first === 0) state.first = now;
              else {
                state.longest = Math.max(state.longest, now - state.last);
                if (now - state.last > oneSegmentMs) {
                  state.over++;
                  state.log.push(`${((state.last - state.start) / 1000).toFixed(1)}s stalled ${((now - state.last) / 1000).toFixed(1)} s`);
                }
              }
              state.last = now;
              state.lastTime = v.currentTime;
              state.logged = false;
            }
          }, 100);
        }, [all, SEGMENT_SECONDS * 1_000 + 100] as [string[], number]);
        return page;
      }),
    );
    while (Date.now() < stopAt) await new Promise((r) => setTimeout(r, 1_000));
    return await Promise.all(
      pages.map(async (page) => {
        const r = (await page.evaluate(`(() => { const s = window.soak; const el = document.querySelector('castnet-player'); const now = performance.now(); return { playedMs: s.first ? now - s.first : 0, longest: Math.max(s.longest, s.first ? now - s.last : 0), over: s.over, failovers: el.failovers.length, errors: [...el.errors, ...s.log, ...el.failovers.map((f) => f.from + ' -> ' + f.to + ': ' + f.reason)] }; })()`)) as { playedMs: number; longest: number; over: number; failovers: number; errors: string[] };
        return { playedMs: r.playedMs, longestStallMs: r.longest, longStalls: r.over + (r.longest > SEGMENT_SECONDS * 1_000 + 100 && r.over === 0 ? 1 : 0), failovers: r.failovers, errors: r.errors };
      }),
    );
  } finally {
    await browser.close();
  }
}

interface Hostile {
  floods: number;
  flood404: number;
  floodUnanswered: number;
  floodOther: number;
  rtmpGarbage: number;
  rtmpGarbageClosed: number;
  stalledUploads: number;
  stalledClosed408: number;
  oversized: number;
  oversized413: number;
  idleOpened: number;
  /** Flood connections beyond the edge's per-address cap, so each should have been refused. */
  idlePastCap: number;
  idleRefused503: number;
  samples: string[];
}

function rawExchange(port: number, bytes: string | Buffer, options: { localAddress?: string; timeoutMs: number }): Promise<{ answer: string; closedMs: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect({ host: '127.0.0.1', port, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('error', () => {});
    const timer = setTimeout(() => socket.destroy(), options.timeoutMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ answer, closedMs: Date.now() - started });
    });
    socket.on('connect', () => socket.write(bytes));
  });
}

async function hostileTraffic(targets: { origin: () => string; edges: () => string[]; rtmpPort: number }, stopAt: number, h: Hostile): Promise<void> {
  const portOf = (url: string) => Number(new URL(url).port);
  const loops: Array<Promise<void>> = [];
  const every = (ms: number, fn: () => Promise<void>) =>
    loops.push(
      (async () => {
        while (Date.now() < stopAt) {
          const t = Date.now();
          await fn().catch((err: Error) => void (h.samples.length < 10 && h.samples.push(err.message)));
          await new Promise((r) => setTimeout(r, Math.max(0, ms - (Date.now() - t))));
        }
      })(),
    );
  // 404 spam for streams that do not exist, at every relay: no stats entries, no heartbeat growth.
  every(100, async () => {
    const relays = [targets.origin(), ...targets.edges()];
    await Promise.all(
      relays.map(async (r) => {
        h.floods++;
        const res = await get(`${r}/hls/nope-${Math.random().toString(36).slice(2)}/source/index.m3u8`, 5_000).catch(() => ({ status: 0 }));
        if (res.status === 404) h.flood404++;
        // No answer: the edge is being restarted after its kill.
        else if (res.status === 0) h.floodUnanswered++;
        else h.floodOther++;
      }),
    );
  });
  // Malformed RTMP: garbage instead of a handshake, and a handshake that stops halfway.
  every(2_000, async () => {
    h.rtmpGarbage += 2;
    const [garbage, half] = await Promise.all([
      rawExchange(targets.rtmpPort, Buffer.from('GET / HTTP/1.1\r\n\r\n' + 'x'.repeat(4_000)), { timeoutMs: 30_000 }),
      rawExchange(targets.rtmpPort, Buffer.concat([Buffer.from([3]), Buffer.alloc(700)]), { timeoutMs: 30_000 }),
    ]);
    if (garbage.closedMs < 30_000) h.rtmpGarbageClosed++;
    if (half.closedMs < 30_000) h.rtmpGarbageClosed++;
  });
  // A stalled upload to the origin: a segment push that stops sending; the relay closes it with 408.
  every(5_000, async () => {
    h.stalledUploads++;
    const r = await rawExchange(portOf(targets.origin()), `PUT /hls/stall/source/0.ts HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n${'G'.repeat(188)}`, { timeoutMs: 60_000 });
    if (/^HTTP\/1\.1 408/.test(r.answer)) h.stalledClosed408++;
    else if (h.samples.length < 10) h.samples.push(`stalled upload answered ${r.answer.slice(0, 40) || 'nothing'} after ${r.closedMs} ms`);
  });
  // An oversized body announced in content-length: refused before it is read.
  every(3_000, async () => {
    h.oversized++;
    const r = await rawExchange(portOf(targets.origin()), 'PUT /hls/big/source/0.ts HTTP/1.1\r\nhost: x\r\ncontent-length: 1073741824\r\n\r\n', { timeoutMs: 10_000 });
    if (/^HTTP\/1\.1 413/.test(r.answer)) h.oversized413++;
  });
  // A flood of idle connections from another address to an edge: past the per-address cap each is answered 503.
  // Only the connections the edge accepted count (an edge being restarted after its kill -9 accepts none).
  every(15_000, async () => {
    const edge = targets.edges()[0]!;
    const sockets: Socket[] = [];
    let connected = 0;
    const results = await Promise.all(
      Array.from({ length: IDLE_FLOOD }, () =>
        new Promise<string>((resolve) => {
          const s = connect({ host: '127.0.0.1', port: portOf(edge), localAddress: '127.0.0.2' });
          sockets.push(s);
          let answer = '';
          s.on('connect', () => connected++);
          s.on('data', (d) => (answer += d.toString('latin1')));
          s.on('error', () => resolve(answer));
          s.on('close', () => resolve(answer));
          setTimeout(() => resolve(answer), 3_000);
        }),
      ),
    );
    h.idleOpened += connected;
    h.idlePastCap += Math.max(0, connected - EDGE_CONNECTIONS_PER_IP);
    h.idleRefused503 += results.filter((a) => /^HTTP\/1\.1 503/.test(a)).length;
    for (const s of sockets) s.destroy();
  });
  await Promise.all(loops);
}

// ------------------------------------------------------------------------------------------------ run

const parameters = { durationS, streams: streamCount, viewers: viewerCount, chromiumViewers, killEveryS, segmentSeconds: SEGMENT_SECONDS, nodes: 'orchestrator, 2 transcoders, origin, 2 edges, broadcaster' };

const publishers: ChildProcess[] = [];
const nodes: NodeProcess[] = [];
process.exit(
  await runBench('soak', parameters, async (bench: Bench) => {
    try {
      await soak(bench);
    } finally {
      for (const p of publishers) p.kill('SIGKILL');
      await Promise.all(nodes.map((n) => n.stop()));
      rmSync(root, { recursive: true, force: true });
    }
  }),
);

async function soak(bench: Bench): Promise<void> {
  const orchestrator = new NodeProcess('orchestrator', 'orchestrator', ['--http-port', '0', '--data-dir', join(root, 'orchestrator'), '--allow-private-nodes', '--heartbeat-interval-ms', '1000', '--node-timeout-ms', '4000'], () => orchestrator.url);
  nodes.push(orchestrator);
  await orchestrator.start();
  const o = orchestrator.url;
  const transcoders = await Promise.all(
    [1, 2].map(async (i) => {
      const port = await freePort();
      const t = new NodeProcess(`transcoder-${i}`, 'transcoder', ['--http-port', String(port), '--orchestrator', o, '--encoder', 'libx264', '--data-dir', join(root, `transcoder-${i}`), '--price-per-pixel', '0', '--concurrency', '1'], () => t.url);
      return t;
    }),
  );
  const origin = new NodeProcess('origin', 'relay', ['--http-port', '0', '--orchestrator', o, '--allow-private-nodes', '--data-dir', join(root, 'origin')], () => origin.url);
  await origin.start();
  const edges = await Promise.all(
    [1, 2].map(async (i) => {
      const port = await freePort();
      const e = new NodeProcess(`edge-${i}`, 'relay', ['--http-port', String(port), '--edge', '--http-max-connections-per-ip', String(EDGE_CONNECTIONS_PER_IP), '--parents', origin.url, '--no-discover-parents', '--orchestrator', '', '--data-dir', join(root, `edge-${i}`)], () => e.url);
      return e;
    }),
  );
  const rtmpPort = await freePort();
  const broadcaster = new NodeProcess('broadcaster', 'broadcaster', ['--rtmp-port', String(rtmpPort), '--http-port', '0', '--orchestrator', o, '--data-dir', join(root, 'broadcaster'), '--dev', '--allow-private-nodes', '--segment-seconds', String(SEGMENT_SECONDS), '--ladder', '144p15:150k', '--max-price-per-pixel', '0'], () => broadcaster.url);
  nodes.push(...transcoders, origin, ...edges, broadcaster);
  await Promise.all([...transcoders, ...edges, broadcaster].map((n) => n.start()));
  bench.check(true, `${nodes.length} node processes listening`);

  // Streams: one FFmpeg publisher each, 320x180 at 15 fps with a keyframe every segment.
  const keys = Array.from({ length: streamCount }, (_, i) => `soak-${i}`);
  for (const key of keys) {
    const args = testPatternArgs({ width: 320, height: 180, fps: 15, seconds: 0, output: `rtmp://127.0.0.1:${rtmpPort}/live/${key}`, realtime: true, videoBitrate: '300k', keyint: 15 * SEGMENT_SECONDS });
    const p = spawn(ffmpegBinaries().ffmpeg, args, { stdio: ['ignore', 'ignore', 'ignore'] });
    publishers.push(p);
  }
  const keysFile = join(root, 'broadcaster', 'stream-keys.json');
  const playbackIds = await until('every stream key to get a playback id', () => {
    try {
      const entries = JSON.parse(readFileSync(keysFile, 'utf8')) as Record<string, { playbackId: string }>;
      const ids = keys.map((k) => entries[k]?.playbackId);
      return ids.every(Boolean) ? (ids as string[]) : undefined;
    } catch {
      return undefined;
    }
  }, START_MS, 250);
  await until('every stream live at both edges', async () => {
    for (const id of playbackIds) for (const e of edges) if ((await get(`${e.url}/hls/${id}/source/index.m3u8`, 5_000).catch(() => ({ status: 0 }))).status !== 200) return false;
    return true;
  }, START_MS, 500);
  bench.check(true, `${streamCount} streams live at the origin and both edges`);

  const started = Date.now();
  const stopAt = started + durationS * 1_000;
  // Source continuity at the origin: every sequence number between the first and the last seen.
  const seen = playbackIds.map(() => new Set<number>());
  const gaps = playbackIds.map(() => 0);
  const sourceWatch = (async () => {
    while (Date.now() < stopAt) {
      await Promise.all(
        playbackIds.map(async (id, i) => {
          const res = await get(`${origin.url}/hls/${id}/source/index.m3u8`, 5_000).catch(() => null);
          if (!res || res.status !== 200) return;
          const lines = res.text.split('\n');
          lines.forEach((l, j) => {
            if (!l.endsWith('.ts')) return;
            seen[i]!.add(Number(l.replace('.ts', '')));
            if (lines[j - 1] === '#EXT-X-GAP' || lines[j - 2] === '#EXT-X-GAP') gaps[i]!++;
          });
        }),
      );
      await new Promise((r) => setTimeout(r, 1_000));
    }
  })();

  const viewerStats: ViewerStats = { fetches: 0, failures: 0, failovers: 0, longestStallMs: 0, longStalls: 0, failureSamples: [] };
  const edgeUrls = () => edges.map((e) => e.url);
  const viewers = Array.from({ length: viewerCount }, (_, i) => viewer(edgeUrls, playbackIds[i % playbackIds.length]!, i, stopAt, viewerStats));
  const hostile: Hostile = { floods: 0, flood404: 0, floodUnanswered: 0, floodOther: 0, rtmpGarbage: 0, rtmpGarbageClosed: 0, stalledUploads: 0, stalledClosed408: 0, oversized: 0, oversized413: 0, idleOpened: 0, idlePastCap: 0, idleRefused503: 0, samples: [] };
  const browsersDone = browserViewers(chromiumViewers, edgeUrls, playbackIds, stopAt);
  const hostileDone = hostileTraffic({ origin: () => origin.url, edges: edgeUrls, rtmpPort }, stopAt, hostile);

  // Samples, and the kills.
  let kills = 0;
  const killer = (async () => {
    let nextKill = started + killEveryS * 1_000;
    let nextSample = started;
    while (Date.now() < stopAt) {
      if (Date.now() >= nextSample) {
        await Promise.all(nodes.map(sample));
        nextSample += SAMPLE_EVERY_MS;
      }
      if (Date.now() >= nextKill && stopAt - Date.now() > 20_000) {
        const victims = [transcoders[kills % 2]!, edges[kills % 2]!];
        for (const v of victims) for (const [k, n] of await refusalsOf(v)) v.refusedBeforeKills.set(k, n);
        await Promise.all(victims.map((v) => v.kill()));
        bench.progress(`kill -9 of ${victims.map((v) => v.name).join(' and ')} at ${Math.round((Date.now() - started) / 1000)} s`);
        await Promise.all(victims.map(async (v) => {
          await v.start();
          v.restarts++;
        }));
        kills++;
        nextKill += killEveryS * 1_000;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const [browserStats] = await Promise.all([browsersDone, sourceWatch, ...viewers, hostileDone, killer]);
  for (const n of nodes) bench.check(n.child?.exitCode === null && n.child.signalCode === null, `${n.name} still running at the end`, `${n.name} is not running: ${n.output.slice(-1_000)}`);

  // Checks.
  const lost = seen.map((s) => (s.size === 0 ? Infinity : Math.max(...s) - Math.min(...s) + 1 - s.size));
  bench.check(lost.every((l) => l === 0) && gaps.every((g) => g === 0), `no source segment lost at the origin (${seen.map((s) => s.size).join(', ')} segments per stream)`, `source segments lost at the origin: ${lost.join(', ')}; gaps ${gaps.join(', ')}`);
  browserStats.forEach((b, i) => {
    const what = `Chromium viewer ${i + 1}: played ${(b.playedMs / 1000).toFixed(0)} s, longest stall ${(b.longestStallMs / 1000).toFixed(1)} s, ${b.failovers} failovers`;
    bench.check(b.playedMs >= durationS * 800 - 15_000 && b.longStalls === 0, `${what} (at most one segment)`, `${what}, ${b.longStalls} stalls over one segment${b.errors.length ? `: ${b.errors.join('; ')}` : ''}`);
  });

  bench.check(kills >= 1 || durationS < killEveryS + 20, `${kills} rounds of kill -9 (a transcoder and an edge each)`);
  const failureRate = viewerStats.failures / Math.max(1, viewerStats.fetches);
  bench.check(viewerStats.fetches > viewerCount * 2 && failureRate < 0.05, `viewers made ${viewerStats.fetches} fetches, ${(failureRate * 100).toFixed(2)}% failed (edges being killed)`, `viewers: ${viewerStats.fetches} fetches, ${viewerStats.failures} failed: ${viewerStats.failureSamples.join('; ')}`);
  bench.check(hostile.floodOther === 0 && hostile.floodUnanswered < hostile.floods * 0.1, `404 flood: every answer of ${hostile.flood404 + hostile.floodOther} was 404 (${hostile.floodUnanswered} unanswered while an edge restarted)`, `404 flood: ${hostile.floodOther} of ${hostile.floods} answered other than 404, ${hostile.floodUnanswered} unanswered`);
  bench.check(hostile.rtmpGarbageClosed === hostile.rtmpGarbage, `malformed RTMP: ${hostile.rtmpGarbageClosed}/${hostile.rtmpGarbage} connections closed by the broadcaster`, `malformed RTMP: only ${hostile.rtmpGarbageClosed} of ${hostile.rtmpGarbage} closed`);
  bench.check(hostile.stalledUploads > 0 && hostile.stalledClosed408 === hostile.stalledUploads, `stalled uploads: ${hostile.stalledClosed408}/${hostile.stalledUploads} answered 408 and closed`, `stalled uploads: ${hostile.stalledClosed408} of ${hostile.stalledUploads} answered 408 (${hostile.samples.join('; ')})`);
  bench.check(hostile.oversized > 0 && hostile.oversized413 === hostile.oversized, `oversized uploads: ${hostile.oversized413}/${hostile.oversized} answered 413 before the body`, `oversized uploads: ${hostile.oversized413} of ${hostile.oversized} answered 413`);
  bench.check(
    hostile.idlePastCap > 0 && hostile.idleRefused503 >= hostile.idlePastCap * 0.95,
    `idle-connection floods: ${hostile.idleRefused503} of the ${hostile.idlePastCap} connections past the per-address cap of ${EDGE_CONNECTIONS_PER_IP} answered 503 (${hostile.idleOpened} accepted in all)`,
    `idle-connection floods: only ${hostile.idleRefused503} of the ${hostile.idlePastCap} connections past the per-address cap answered 503`,
  );

  // Flatness of the nodes that live through the whole run.
  const flat = (xs: number[], slack: number) => {
    if (xs.length < 8) return { ok: true, early: xs[0] ?? 0, late: xs.at(-1) ?? 0 };
    const q = Math.floor(xs.length / 4);
    const early = median(xs.slice(q, 2 * q));
    const late = median(xs.slice(3 * q));
    return { ok: late <= early * 1.5 + slack, early, late };
  };
  for (const n of [orchestrator, origin, broadcaster]) {
    const rss = flat(n.samples.map((s) => s.rss), 40 * 1024 * 1024);
    const fds = flat(n.samples.map((s) => s.fds), 30);
    const handles = flat(n.samples.map((s) => s.handles), 30);
    bench.check(rss.ok && fds.ok && handles.ok, `${n.name} flat: RSS ${mb(rss.early)} → ${mb(rss.late)}, fds ${fds.early} → ${fds.late}, handles ${handles.early} → ${handles.late}`, `${n.name} grew: RSS ${mb(rss.early)} → ${mb(rss.late)}, fds ${fds.early} → ${fds.late}, handles ${handles.early} → ${handles.late}`);
  }

  // Figures.
  bench.figure(`run: ${durationS} s, ${streamCount} streams, ${viewerCount} viewers over 2 edges, ${kills} kill rounds`);
  bench.figure(`source at the origin: ${seen.map((s) => s.size).join(' + ')} segments seen, ${lost.reduce((a, b) => a + b, 0)} lost, ${gaps.reduce((a, b) => a + b, 0)} gaps`);
  bench.figure(`viewers: ${viewerStats.fetches} fetches, ${viewerStats.failures} failed, ${viewerStats.failovers} failovers, longest stall ${(viewerStats.longestStallMs / 1000).toFixed(1)} s, ${viewerStats.longStalls} stalls > ${2 * SEGMENT_SECONDS + 1} s (polling players, not Chromium)`);
  for (const [i, b] of browserStats.entries()) bench.figure(`Chromium viewer ${i + 1}: played ${(b.playedMs / 1000).toFixed(0)} s, longest stall ${(b.longestStallMs / 1000).toFixed(1)} s, ${b.failovers} failovers`);
  bench.figure(`hostile: ${hostile.floods} 404s, ${hostile.rtmpGarbage} malformed RTMP, ${hostile.stalledUploads} stalled uploads, ${hostile.oversized} oversized, ${hostile.idleOpened} flood connections (${hostile.idleRefused503} refused 503)`);
  for (const n of nodes) {
    const s = n.samples;
    const pick = [0, Math.floor(s.length / 4), Math.floor(s.length / 2), Math.floor((3 * s.length) / 4), s.length - 1].filter((i, j, a) => i >= 0 && a.indexOf(i) === j && s[i]);
    const series = pick.map((i) => `${Math.round((s[i]!.at - started) / 1000)}s ${mb(s[i]!.rss)}/${s[i]!.fds}fd/${s[i]!.handles}h`).join(', ');
    bench.figure(`${n.name}${n.restarts ? ` (restarted ${n.restarts}×)` : ''}: ${series}`);
  }
  for (const n of nodes) {
    const refused = [...(await refusalsOf(n))].filter(([, v]) => v > 0).map(([k, v]) => `${k.replace(/,?role="[a-z]+"/, '')} ${v}`);
    if (refused.length > 0) bench.figure(`${n.name} refusals: ${refused.join(', ')}`);
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)}MB`;
}
