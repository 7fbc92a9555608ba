// bench/latency: frame-accurate glass-to-glass latency in Chromium, the same method for every server. One
// publisher (frame-publisher.ts, in its own process: remote-publisher.ts; raw frames with their number drawn in, FFmpeg x264 over RTMP) stamps each
// frame's send time; the page (page.ts) reads the number back from every presented frame and stamps its
// display time; latency = display − send, on the same wall clock. Cases, one after the other in one run:
//   nginx      nginx + Debian's RTMP module, HLS with 2 s fragments (the baseline), hls.js with castnet-player's options
//   source     Castnet source rendition, through an edge relay that pulls from the origin, castnet-player
//   rendition  the same stream's transcoded rendition (--rendition, default 360p, the only rung of the ladder), same edge
//   ll-source  Castnet with the broadcaster's --low-latency (CMAF parts), no transcoding, read at the origin
//              relay by plain hls.js in lowLatencyMode (hls.js's own live sync: no catch-up rate)
//   ll-edge    the same LL stream through an edge relay that follows the origin part by part, played by
//              <castnet-player> (verifying every part and init, its LL latency settings): the path a viewer uses
//   ll-rendition  the LL stream's transcoded rendition (--rendition) through the same edge: CMAF parts
//              transcoded progressively (the segment streamed to the transcoder while it is ingested)
// Each Castnet group (source+rendition, ll-source+ll-edge+ll-rendition) runs its network in its own process (castnet-network.ts),
// with its own publisher. Before a case is watched, the newest segment's first frame is decoded with FFmpeg
// and its number read offline (segment-probe.ts). Each case is watched alone for --seconds from its first
// presented frame. A case whose measurement is not valid (a player error, unreadable or unknown frame
// numbers, a publisher that fell behind real time, too little playback) prints FAILED and no figure; the
// others still print theirs, and the exit status is 1. A missed target is reported and, with
// --enforce-targets, makes the exit status 1 too.
// Usage: npm run bench:latency [-- --seconds 20 --cases nginx,source,rendition,ll-source,ll-edge,ll-rendition --rendition 360p --source-size 640x360 --enforce-targets]

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { parseFlags } from '../../cli/options.ts';
import { chromiumPath, launchChromium } from '../../test/support/browser.ts';
import { getText, metric, reapTempDir, spawnNode, waitFor, waitForActive, type NodeProcess } from '../../test/support/network.ts';
import { BenchFailure, requireExecutable, runBench, type Bench } from '../support/report.ts';
import type { CastnetNetworkInfo, CastnetNetworkSpec } from './castnet-network.ts';
import { caseStats, STALL_GAP_MS, type CaseStats } from './latency-stats.ts';
import { PUBLISH_FPS } from './frame-publisher.ts';
import { RemotePublisher } from './remote-publisher.ts';
import { startNginxRtmp } from './nginx-rtmp.ts';
import type { LatencyReport } from './page.ts';
import { startPageServer, type PageServer } from './page-server.ts';
import { probeNewestSegment } from './segment-probe.ts';

const CASES = ['nginx', 'source', 'rendition', 'll-source', 'll-edge', 'll-rendition'] as const;
type CaseName = (typeof CASES)[number];
/** Segments a playlist lists before a case starts watching: a viewer joining a stream that is already live. */
const READY_SEGMENTS = 3;
const READY_MS = 60_000;
const FIRST_FRAME_MS = 45_000;
const NETWORK_START_MS = 60_000;
/** Share of presented frames that may fail to read back (a damaged decode) before the case is invalid. */
const MAX_UNREADABLE_SHARE = 0.01;
/** The publisher's x264 preset: the cheapest, so a 2-core machine running the servers and Chromium keeps real time. */
const PUBLISH_PRESET = 'ultrafast';
const PUBLISH_BITRATE = '1000k';
const RENDITION_BITRATE_KBPS = 700;
const LL_PART_TARGET_S = 0.334;
// Issue 12's targets on this machine.
const TARGET_SOURCE_P50_MS = 1_500;
const TARGET_RENDITION_P50_MS = 2_500;
const TARGET_NGINX_RATIO = 0.5;

const { flags } = parseFlags(process.argv.slice(2));
const seconds = Number(flags.get('seconds') ?? 20);
const rendition = String(flags.get('rendition') ?? '360p');
const sourceSize = String(flags.get('source-size') ?? '640x360');
const cases = String(flags.get('cases') ?? CASES.join(',')).split(',').filter(Boolean) as CaseName[];
const enforceTargets = flags.get('enforce-targets') === true;
for (const c of cases) if (!CASES.includes(c)) throw new Error(`--cases takes ${CASES.join(', ')}, not ${c}`);
if (!Number.isFinite(seconds) || seconds < 5 || seconds > 600) throw new Error(`--seconds takes 5..600, not ${flags.get('seconds')}`);
if (!/^\d+p$/.test(rendition)) throw new Error(`--rendition takes a ladder rung such as 360p, not ${rendition}`);
const sizeMatch = /^(\d+)x(\d+)$/.exec(sourceSize);
if (!sizeMatch || Number(sizeMatch[1]) % 2 || Number(sizeMatch[2]) % 2) throw new Error(`--source-size takes even WIDTHxHEIGHT such as 640x360, not ${sourceSize}`);
const PUBLISH_WIDTH = Number(sizeMatch[1]);
const PUBLISH_HEIGHT = Number(sizeMatch[2]);
const renditionHeight = Number(rendition.slice(0, -1));
if (renditionHeight > PUBLISH_HEIGHT) throw new Error(`--rendition ${rendition} is above the source (${sourceSize}): the ladder never upscales`);

const LABELS: Record<CaseName, string> = { nginx: 'nginx-rtmp', source: 'castnet source', rendition: `castnet ${rendition}`, 'll-source': 'castnet LL origin', 'll-edge': 'castnet LL edge', 'll-rendition': `castnet LL ${rendition}` };

interface Measured {
  stats: CaseStats;
  report: LatencyReport;
  player: string;
  loadBefore: number;
  loadAfter: number;
}

const results = new Map<CaseName, Measured>();
const failures = new Map<CaseName, string>();
let targetMissed = false;

const countSegments = (playlist: string) => (playlist.match(/^#EXTINF:/gm) ?? []).length;
const asFailure = (err: unknown) => (err instanceof BenchFailure ? err : new BenchFailure(err instanceof Error ? err.message : String(err)));

/** A publisher in its own process (at a raised priority where allowed): it stands for a camera on another machine. */
function newPublisher(url: string): RemotePublisher {
  return new RemotePublisher({ url, width: PUBLISH_WIDTH, height: PUBLISH_HEIGHT, preset: PUBLISH_PRESET, videoBitrate: PUBLISH_BITRATE });
}

async function waitForSegments(url: string, publisher: RemotePublisher): Promise<void> {
  const ready = await waitFor(`${READY_SEGMENTS} segments in ${url}`, async () => {
    if (publisher.failed) return 'publisher failed';
    const { status, text } = await getText(url);
    return status === 200 && countSegments(text) >= READY_SEGMENTS ? 'ready' : undefined;
  }, READY_MS, 250).catch((err: unknown) => {
    throw asFailure(err);
  });
  if (ready !== 'ready') throw new BenchFailure(`publisher failed while waiting for ${url}: ${publisher.failed}`);
}

/** The newest segment's first frame, decoded offline, must carry a frame number the publisher sent. */
async function checkSegmentCode(bench: Bench, label: string, playlist: string, publisher: RemotePublisher): Promise<void> {
  const probe = await probeNewestSegment(playlist).catch((err: Error) => {
    throw new BenchFailure(`${label}: could not decode its newest segment offline: ${err.message}`);
  });
  bench.check(
    probe.read.ok && probe.read.n < publisher.sentAt.length,
    `${label}: segment ${probe.uri} (${probe.bytes} bytes) decoded offline by FFmpeg reads back as frame ${probe.read.ok ? probe.read.n : '?'}`,
    `${label}: segment ${probe.uri} decoded offline does not read back as a sent frame number: ${probe.read.ok ? `read ${probe.read.n}, ${publisher.sentAt.length} sent` : probe.read.reason}`,
  );
}

const publisherLine = (p: RemotePublisher) => `${p.raisedPriority ? 'its process and encoder at nice -10, ' : ''}started in ${p.stats.startupMs} ms, ${p.stats.framesSent} frames, encoder backlog at most ${p.stats.maxBacklogFrames} frames, ${p.stats.lateFrames} frames written late`;

/** Plays one case in a fresh page for `seconds` from its first presented frame; records its figures. */
async function watch(bench: Bench, browser: Browser, key: CaseName, url: string, player: string, publisher: RemotePublisher, expectHeight: number): Promise<Measured> {
  const label = LABELS[key];
  if (publisher.failed) throw new BenchFailure(`${label}: not watched, the publisher failed before it: ${publisher.failed}`);
  const loadBefore = loadavg()[0]!;
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  try {
    await page.goto(url);
    // A failed publisher ends the wait at once (a predicate that threw would be retried until the deadline).
    const first = await waitFor(`${label}: the first frame read back`, async () => {
      if (publisher.failed) return 'publisher failed';
      return (await page.evaluate('window.latencyReport().frames.length')) as number > 0 ? 'frame' : undefined;
    }, FIRST_FRAME_MS, 100).catch(async (err: Error) => {
      const report = (await page.evaluate('window.latencyReport()').catch(() => null)) as LatencyReport | null;
      throw new BenchFailure(`${err.message}; page errors ${JSON.stringify(pageErrors)}, player ${JSON.stringify(report && { errors: report.errors, unreadable: report.unreadable, decoded: report.decodedFrames, size: report.videoSize, callbacks: report.callbacks, rearmed: report.rearmed, status: report.playerStatus, failovers: report.failovers })}`);
    });
    if (first !== 'frame') throw new BenchFailure(`${label}: publisher failed before the first frame was read back: ${publisher.failed}`);
    bench.progress(`${label}: playing, watching for ${seconds} s`);
    const until = Date.now() + seconds * 1000;
    while (Date.now() < until) {
      if (publisher.failed) throw new BenchFailure(`publisher failed while watching ${label}: ${publisher.failed}`);
      await new Promise((r) => setTimeout(r, Math.min(1_000, until - Date.now())));
    }
    const report = (await page.evaluate('window.latencyReport()')) as LatencyReport;
    const stats = caseStats(publisher.sentAt, report, seconds * 1000, Date.now());
    const [, height] = report.videoSize.split('x').map(Number);
    bench.check(pageErrors.length === 0 && report.errors.length === 0, `${label}: no page, player or media error`, `${label}: page errors ${JSON.stringify(pageErrors)}, player/media errors ${JSON.stringify(report.errors)}`);
    bench.check(height === expectHeight, `${label}: frames presented at ${report.videoSize}`, `${label}: frames presented at ${report.videoSize}, expected a height of ${expectHeight}`);
    bench.check(
      stats.unknownNumbers === 0 && stats.negative === 0 && stats.unreadable <= MAX_UNREADABLE_SHARE * stats.presented,
      `${label}: ${stats.measured} presented frames read back as numbers the publisher sent, ${stats.unreadable} unreadable, none shown before it was sent`,
      `${label}: ${stats.unknownNumbers} numbers never sent, ${stats.negative} frames shown before they were sent, ${stats.unreadable} of ${stats.presented} unreadable (${JSON.stringify(report.unreadable)})`,
    );
    const least = Math.floor((seconds * PUBLISH_FPS) / 2);
    bench.check(stats.measured >= least, `${label}: ${stats.measured} distinct frames presented in ${seconds} s (at least ${least})`, `${label}: only ${stats.measured} distinct frames presented in ${seconds} s (want at least ${least}: the player did not keep playing)`);
    bench.check(!publisher.failed && publisher.stats.startupMs >= 0, `${label}: publisher kept real time: ${publisherLine(publisher)}`, `${label}: publisher: ${publisher.failed ?? 'never caught up after starting'}`);
    return { stats, report, player, loadBefore, loadAfter: loadavg()[0]! };
  } finally {
    await page.close();
  }
}

/** Runs one case or group; a failure is recorded for its cases (no figure) and the run goes on. */
async function attempt(bench: Bench, keys: CaseName[], body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    const failure = asFailure(err);
    for (const key of keys) if (!results.has(key)) failures.set(key, failure.message);
    bench.progress(`FAILED ${keys.filter((k) => !results.has(k)).map((k) => LABELS[k]).join(', ')}: ${failure.message}`);
  }
}

interface CastnetNetwork {
  info: CastnetNetworkInfo;
  stop(): Promise<void>;
}

/** Starts castnet-network.ts as its own process with its own TMPDIR (FFmpeg jobs left behind are reaped by path). */
async function startCastnetNetwork(spec: CastnetNetworkSpec): Promise<CastnetNetwork> {
  const tmp = mkdtempSync(join(tmpdir(), 'castnet-bench-latency-'));
  const child: ChildProcess = spawn(process.execPath, ['bench/latency/castnet-network.ts', JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: tmp } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(kill);
    await reapTempDir(tmp);
  };
  try {
    const line = await waitFor('the Castnet network to start', () => {
      if (child.exitCode !== null) throw new BenchFailure(`castnet-network exited with ${child.exitCode}: ${out.slice(-800)}`);
      return /^CASTNET_NETWORK (.+)$/m.exec(out)?.[1];
    }, NETWORK_START_MS, 50);
    return { info: JSON.parse(line) as CastnetNetworkInfo, stop };
  } catch (err) {
    await stop();
    throw asFailure(err);
  }
}

/** Source and transcoded rendition: one network (ladder: the rendition alone), an edge relay, one publisher. */
async function castnetCases(bench: Bench, browser: Browser, pages: PageServer): Promise<void> {
  const names: Array<[CaseName, string, number]> = [];
  if (cases.includes('source')) names.push(['source', 'source', PUBLISH_HEIGHT]);
  if (cases.includes('rendition')) names.push(['rendition', rendition, renditionHeight]);
  const network = await startCastnetNetwork({ ladder: cases.includes('rendition') ? `${rendition}30:${RENDITION_BITRATE_KBPS}k` : '', lowLatency: false });
  let edge: NodeProcess | null = null;
  let publisher: RemotePublisher | null = null;
  try {
    const { info } = network;
    edge = await spawnNode('relay', ['--edge', '--allow-private-nodes', '--http-port', '0', '--orchestrator', info.orchestratorUrl, '--data-dir', '']);
    await waitForActive(info.orchestratorUrl, edge.url, 30_000);
    publisher = newPublisher(info.rtmpUrl);
    publisher.start();
    const base = `${edge.url}/hls/${info.playbackId}`;
    for (const [, name] of names) await waitForSegments(`${base}/${name}/index.m3u8`, publisher);
    const directory = `${info.orchestratorUrl}/api/streams/${info.playbackId}`;
    for (const [key, name, height] of names) {
      const pub = publisher;
      await attempt(bench, [key], async () => {
        if (pub.failed) throw new BenchFailure(`${LABELS[key]}: not watched, the publisher failed before it: ${pub.failed}`);
        await checkSegmentCode(bench, LABELS[key], `${base}/${name}/index.m3u8`, pub);
        const measured = await watch(bench, browser, key, pages.pageUrl('castnet', `${base}/${name}/index.m3u8`, { directory }), 'castnet-player', pub, height);
        bench.check((measured.report.verifiedSegments ?? 0) > 0, `${LABELS[key]}: the player checked ${measured.report.verifiedSegments} segments against the publisher key`, `${LABELS[key]}: the player checked no segment`);
        const pulled = await metric(edge!.url, /^castnet_relay_upstream_requests_total/);
        bench.check(pulled > 0, `${LABELS[key]}: the edge relay pulled from the origin (${pulled} upstream requests)`, 'the edge relay made no upstream request: the player was not served through it');
        results.set(key, measured);
      });
    }
  } finally {
    await publisher?.stop();
    await edge?.kill('SIGTERM');
    await network.stop();
  }
}

/** Checks that a measured LL case was played in hls.js's low-latency mode. */
function checkLowLatencyMode(bench: Bench, label: string, measured: Measured): void {
  const { partTarget, targetLatencySeconds, targetDuration } = measured.report;
  // In low-latency mode hls.js holds back PART-HOLD-BACK (plus up to a target duration after stalls), never
  // the 3 target durations of plain live sync.
  bench.check(
    partTarget !== null && targetLatencySeconds !== null && targetDuration !== null && targetLatencySeconds < 3 * targetDuration,
    `${label}: hls.js played it in low-latency mode (PART-TARGET ${partTarget} s, target latency ${targetLatencySeconds?.toFixed(2)} s, not 3 × ${targetDuration} s)`,
    `${label}: hls.js did not play it in low-latency mode (PART-TARGET ${partTarget}, target latency ${targetLatencySeconds}, TARGETDURATION ${targetDuration})`,
  );
}

/**
 * Low-latency source: a network with --low-latency and no ladder, one publisher. ll-source reads the origin
 * with plain hls.js in lowLatencyMode; ll-edge reads an edge relay (following the origin part by part) with
 * castnet-player, which verifies every part and init against the publisher key.
 */
async function llCases(bench: Bench, browser: Browser, pages: PageServer): Promise<void> {
  const network = await startCastnetNetwork({ ladder: cases.includes('ll-rendition') ? `${rendition}30:${RENDITION_BITRATE_KBPS}k` : '', lowLatency: true, partTarget: LL_PART_TARGET_S });
  const publisher = newPublisher(network.info.rtmpUrl);
  let edge: NodeProcess | null = null;
  try {
    const { info } = network;
    if (cases.includes('ll-edge') || cases.includes('ll-rendition')) {
      edge = await spawnNode('relay', ['--edge', '--allow-private-nodes', '--http-port', '0', '--orchestrator', info.orchestratorUrl, '--data-dir', '']);
      await waitForActive(info.orchestratorUrl, edge.url, 30_000);
    }
    publisher.start();
    const origin = `${info.originUrl}/hls/${info.playbackId}/source/index.m3u8`;
    await waitForSegments(origin, publisher);
    const text = (await getText(origin)).text;
    bench.check(/#EXT-X-PART:/.test(text) && /#EXT-X-PART-INF:PART-TARGET=/.test(text), 'LL: the origin serves an LL-HLS playlist (EXT-X-PART-INF, EXT-X-PART)', `LL: the origin's playlist has no parts:\n${text.slice(0, 600)}`);
    if (cases.includes('ll-source')) {
      await attempt(bench, ['ll-source'], async () => {
        const label = LABELS['ll-source'];
        await checkSegmentCode(bench, label, origin, publisher);
        const measured = await watch(bench, browser, 'll-source', pages.pageUrl('hls.js-ll', origin), 'hls.js lowLatencyMode (unverified)', publisher, PUBLISH_HEIGHT);
        checkLowLatencyMode(bench, label, measured);
        results.set('ll-source', measured);
      });
    }
    if (edge && cases.includes('ll-edge')) {
      const e = edge;
      await attempt(bench, ['ll-edge'], async () => {
        const label = LABELS['ll-edge'];
        const playlist = `${e.url}/hls/${info.playbackId}/source/index.m3u8`;
        await waitForSegments(playlist, publisher);
        const edgeText = (await getText(playlist)).text;
        bench.check(/#EXT-X-PART:/.test(edgeText) && /#EXT-X-PRELOAD-HINT:/.test(edgeText), `${label}: the edge serves the LL-HLS playlist with parts and a preload hint`, `${label}: the edge's playlist has no parts:\n${edgeText.slice(0, 600)}`);
        await checkSegmentCode(bench, label, playlist, publisher);
        const directory = `${info.orchestratorUrl}/api/streams/${info.playbackId}`;
        const measured = await watch(bench, browser, 'll-edge', pages.pageUrl('castnet', playlist, { directory }), 'castnet-player', publisher, PUBLISH_HEIGHT);
        checkLowLatencyMode(bench, label, measured);
        bench.check((measured.report.verifiedSegments ?? 0) > 0, `${label}: the player checked ${measured.report.verifiedSegments} parts, inits and segments against the publisher key`, `${label}: the player checked nothing`);
        const partsPulled = await metric(e.url, /^castnet_relay_upstream_requests_total\{[^}]*kind="part"/);
        const pulled = await metric(e.url, /^castnet_relay_upstream_requests_total/);
        bench.check(partsPulled > 0, `${label}: the edge relay followed the origin part by part (${pulled} upstream requests, ${partsPulled} of them parts)`, `${label}: the edge relay pulled no part from the origin (${pulled} upstream requests): the player was not served parts through it`);
        results.set('ll-edge', measured);
      });
    }
    if (edge && cases.includes('ll-rendition')) {
      const e = edge;
      await attempt(bench, ['ll-rendition'], async () => {
        const label = LABELS['ll-rendition'];
        const playlist = `${e.url}/hls/${info.playbackId}/${rendition}/index.m3u8`;
        await waitForSegments(playlist, publisher);
        // Its parts come once its transcoder passed its first verified segments: wait for them.
        const withParts = await waitFor(`${label}: parts in the edge's playlist`, async () => {
          const t = (await getText(playlist)).text;
          return /#EXT-X-PART:/.test(t) && /#EXT-X-PRELOAD-HINT:/.test(t) ? t : undefined;
        }, 30_000, 200).catch(() => null);
        bench.check(withParts !== null, `${label}: the edge serves the transcoded rendition as LL-HLS with parts and a preload hint`, `${label}: the edge's playlist of ${rendition} has no parts:\n${(await getText(playlist)).text.slice(0, 600)}`);
        await checkSegmentCode(bench, label, playlist, publisher);
        const directory = `${info.orchestratorUrl}/api/streams/${info.playbackId}`;
        const partsBefore = await metric(e.url, /^castnet_relay_upstream_requests_total\{[^}]*kind="part"/);
        const measured = await watch(bench, browser, 'll-rendition', pages.pageUrl('castnet', playlist, { directory }), 'castnet-player', publisher, renditionHeight);
        checkLowLatencyMode(bench, label, measured);
        bench.check((measured.report.verifiedSegments ?? 0) > 0, `${label}: the player checked ${measured.report.verifiedSegments} parts, inits and segments against the publisher key`, `${label}: the player checked nothing`);
        const partsPulled = (await metric(e.url, /^castnet_relay_upstream_requests_total\{[^}]*kind="part"/)) - partsBefore;
        bench.check(partsPulled > 0, `${label}: the edge relay followed the origin part by part while it was watched (${partsPulled} parts pulled)`, `${label}: the edge relay pulled no part while it was watched`);
        results.set('ll-rendition', measured);
      });
    }
  } finally {
    await publisher.stop();
    await edge?.kill('SIGTERM');
    await network.stop();
  }
}

async function nginxCase(bench: Bench, browser: Browser, pages: PageServer): Promise<void> {
  const nginx = await startNginxRtmp({ fragmentSeconds: 2 }).catch((err: Error) => {
    throw new BenchFailure(err.message);
  });
  const publisher = newPublisher(`${nginx.rtmpUrl}/bench`);
  try {
    publisher.start();
    const playlist = nginx.playlistUrl('bench');
    await waitForSegments(playlist, publisher);
    await checkSegmentCode(bench, LABELS.nginx, playlist, publisher);
    results.set('nginx', await watch(bench, browser, 'nginx', pages.pageUrl('hls.js', playlist), 'hls.js (castnet-player options)', publisher, PUBLISH_HEIGHT));
  } finally {
    await publisher.stop();
    await nginx.stop();
  }
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const secs = (v: number | null) => (v === null ? '-' : `${v.toFixed(2)} s`);

function report(bench: Bench, loadBefore: number[]): void {
  bench.figure(`glass-to-glass latency, ${seconds} s per case from its first presented frame, cases one after the other (publish ${PUBLISH_WIDTH}x${PUBLISH_HEIGHT} ${PUBLISH_FPS} fps x264 ${PUBLISH_PRESET} zerolatency ${PUBLISH_BITRATE}, 2 s keyframes; Chromium + hls.js):`);
  bench.figure(`  ${'case'.padEnd(18)} ${'p50'.padStart(7)} ${'p95'.padStart(7)} ${'min'.padStart(7)} ${'max'.padStart(7)}  ${'stalls'.padEnd(16)} ${'measured/decoded/dropped'.padEnd(25)} ${'hls.js latency/target'.padEnd(22)} ${'TARGETDURATION/PART'.padEnd(20)} load 1m  player`);
  for (const key of CASES) {
    if (!cases.includes(key)) continue;
    const m = results.get(key);
    if (!m) {
      bench.figure(`  ${LABELS[key].padEnd(18)} FAILED, no figure: ${failures.get(key) ?? 'not run'}`);
      continue;
    }
    const { stats, report: r } = m;
    bench.figure(
      `  ${LABELS[key].padEnd(18)} ${s(stats.p50Ms).padStart(7)} ${s(stats.p95Ms).padStart(7)} ${s(stats.minMs).padStart(7)} ${s(stats.maxMs).padStart(7)}  ${`${stats.stalls} (${s(stats.stallMs)})`.padEnd(16)} ${`${stats.measured}/${r.decodedFrames}/${r.droppedFrames}`.padEnd(25)} ${`${secs(r.playerLatencySeconds)} / ${secs(r.targetLatencySeconds)}`.padEnd(22)} ${`${r.targetDuration ?? '-'} s / ${r.partTarget ?? '-'}`.padEnd(20)} ${m.loadBefore.toFixed(1)}→${m.loadAfter.toFixed(1)}  ${m.player}${r.startJump ? ` (start jump +${r.startJump.toFixed(2)} s)` : ''}`,
    );
  }
  bench.figure(`  stalls: a picture on screen over ${STALL_GAP_MS} ms, or the video waiting (not in the player's own seek within the buffer, listed apart); hls.js target: its live sync distance (3 target durations, or PART-HOLD-BACK in low-latency mode)`);
  for (const key of CASES) {
    const m = results.get(key);
    if (m && m.stats.seekWaitsMs.length > 0) bench.figure(`  ${LABELS[key]}: waited ${m.stats.seekWaitsMs.map((ms) => s(ms)).join(', ')} in the start jump's seek`);
    if (!m || m.stats.stallList.length === 0) continue;
    bench.figure(`  ${LABELS[key]} stalls:`);
    for (const stall of m.stats.stallList) {
      // What the media element stood on when a 'waiting' inside this stall began: buffer ahead, rate, ranges.
      const first = m.report.frames[0]?.[1] ?? 0;
      const at = m.report.waitingAt.find((w) => w.at - first >= stall.fromMs - 1 && w.at - first <= stall.fromMs + stall.ms + 1);
      const where = at ? `, at media ${at.currentTime.toFixed(3)} s with ${at.bufferAhead.toFixed(3)} s buffered ahead, rate ${at.playbackRate}, ranges ${at.buffered.map(([a, b]) => `${a.toFixed(2)}-${b.toFixed(2)}`).join(' ')}` : '';
      bench.figure(`    at +${s(stall.fromMs)} for ${s(stall.ms)} (${stall.kind})${where}`);
    }
  }
  const nginx = results.get('nginx');
  if (nginx) {
    bench.figure('ratios to nginx-rtmp (Castnet / nginx):');
    for (const key of ['source', 'rendition', 'll-source', 'll-edge', 'll-rendition'] as const) {
      const c = results.get(key);
      if (c) bench.figure(`  ${LABELS[key].padEnd(18)} p50 ${(c.stats.p50Ms / nginx.stats.p50Ms).toFixed(2)}×  p95 ${(c.stats.p95Ms / nginx.stats.p95Ms).toFixed(2)}×`);
    }
  }
  bench.figure('targets (issue 12):');
  const target = (ok: boolean, line: string) => {
    if (!ok) targetMissed = true;
    bench.figure(`  ${ok ? 'PASS' : 'MISS'}  ${line}`);
  };
  const sources = (['source', 'll-source', 'll-edge'] as const).flatMap((k) => (results.has(k) ? [[k, results.get(k)!] as const] : []));
  const transcoded = (['rendition', 'll-rendition'] as const).flatMap((k) => (results.has(k) ? [[k, results.get(k)!] as const] : []));
  for (const [k, c] of sources) target(c.stats.p50Ms <= TARGET_SOURCE_P50_MS, `${LABELS[k]} p50 ≤ ${s(TARGET_SOURCE_P50_MS)}: ${s(c.stats.p50Ms)}`);
  for (const [k, c] of transcoded) target(c.stats.p50Ms <= TARGET_RENDITION_P50_MS, `${LABELS[k]} p50 ≤ ${s(TARGET_RENDITION_P50_MS)}: ${s(c.stats.p50Ms)}`);
  const castnet = [...sources, ...transcoded];
  if (nginx) for (const [k, c] of castnet) target(c.stats.p50Ms <= TARGET_NGINX_RATIO * nginx.stats.p50Ms, `${LABELS[k]} p50 ≤ ${TARGET_NGINX_RATIO}× nginx (${s(TARGET_NGINX_RATIO * nginx.stats.p50Ms)}): ${(c.stats.p50Ms / nginx.stats.p50Ms).toFixed(2)}×`);
  for (const [k, c] of castnet) target(c.stats.stalls === 0, `${LABELS[k]}: no stall in ${seconds} s: ${c.stats.stalls} (${s(c.stats.stallMs)})`);
  bench.figure(`machine: load average (1 min) before ${loadBefore[0]!.toFixed(2)}, after ${loadavg()[0]!.toFixed(2)}`);
}

const status = await runBench('latency', { seconds, cases: cases.join(','), rendition, sourceSize, enforceTargets, chromium: chromiumPath }, async (bench) => {
  requireExecutable(chromiumPath, 'apt-get install chromium (or set CHROMIUM_PATH)');
  const loadBefore = loadavg();
  const pages = await startPageServer();
  const browser = await launchChromium();
  try {
    if (cases.includes('nginx')) await attempt(bench, ['nginx'], () => nginxCase(bench, browser, pages));
    const plain = cases.filter((c) => c === 'source' || c === 'rendition');
    if (plain.length > 0) await attempt(bench, plain, () => castnetCases(bench, browser, pages));
    const ll = cases.filter((c) => c === 'll-source' || c === 'll-edge' || c === 'll-rendition');
    if (ll.length > 0) await attempt(bench, ll, () => llCases(bench, browser, pages));
  } finally {
    await browser.close();
    await pages.close();
  }
  bench.check(results.size > 0, `${results.size} of ${cases.length} cases measured`, `no case measured: ${[...failures].map(([k, m]) => `${LABELS[k]}: ${m}`).join('; ')}`);
  report(bench, loadBefore);
});
if (status === 0 && failures.size > 0) console.error(`bench/latency: ${failures.size} case(s) FAILED (${[...failures.keys()].join(', ')}): no figure for them, exit 1`);
if (status === 0 && enforceTargets && targetMissed) console.error('bench/latency: a target was missed (--enforce-targets): exit 1');
process.exit(status !== 0 ? status : failures.size > 0 || (enforceTargets && targetMissed) ? 1 : 0);
