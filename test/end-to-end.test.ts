// The whole path as a user runs it: `castnet dev` as its own process, FFmpeg publishing over real RTMP,
// playlists and segments read from the relay and checked with ffprobe, and the watch page playing in
// headless Chromium.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { ffprobe } from '../media/ffprobe.ts';
import type { StreamDirectoryEntry } from '../protocol/stream-record.ts';
import { launchChromium, samplePlayer, type PlaybackSample } from './support/browser.ts';
import { getText, publish, reapTempDir, waitFor, within, type Publisher } from './support/network.ts';

const STREAM_KEY = 'e2e-secret-key';

describe('castnet dev, end to end', () => {
  let dev: ReturnType<typeof spawn>;
  let publisher: Publisher;
  let dataDir: string;
  let stdout = '';
  // Read from the banner: every port is ephemeral (0), so parallel runs never collide.
  const urls = { rtmp: '', relay: '', orchestrator: '', metrics: [] as string[] };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'castnet-e2e-'));
    mkdirSync(join(dataDir, 'tmp'));
    dev = spawn(process.execPath, ['bin/castnet.js', 'dev', '--rtmp-port', '0', '--http-port', '0', '--orchestrator-port', '0', '--data-dir', dataDir, '--no-demo'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its FFmpeg jobs work under the test's directory, so afterAll can find any it leaves running.
      env: { ...process.env, TMPDIR: join(dataDir, 'tmp') },
    });
    dev.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    dev.stderr!.on('data', (d: Buffer) => (stdout += d.toString()));
    await waitFor('the dev network banner', () => stdout.includes('Press Ctrl-C'), 30_000);
    urls.rtmp = /Server: (rtmp:\/\/\S+)/.exec(stdout)![1]!;
    urls.relay = /Watch it at\s+(http:\/\/[^/]+)/.exec(stdout)![1]!;
    urls.orchestrator = /Stream directory\s+(http:\/\/[^/]+)/.exec(stdout)![1]!;
    urls.metrics = [...(/Metrics\s+(.*)/.exec(stdout)![1]!.matchAll(/http:\/\/\S+/g))].map((m) => m[0]);
    publisher = publish(`${urls.rtmp}/${STREAM_KEY}`, { width: 1280, height: 720 });
  });

  afterAll(async () => {
    await publisher?.stop();
    if (dev && dev.exitCode === null && dev.signalCode === null) {
      const exited = new Promise((r) => dev.once('exit', r));
      dev.kill('SIGTERM');
      // A dev network that does not stop on SIGTERM is a failure, but it must not outlive the test either.
      await within('castnet dev to stop on SIGTERM', exited, 15_000).finally(() => dev.kill('SIGKILL'));
    }
    if (dataDir) {
      await reapTempDir(join(dataDir, 'tmp'));
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  /** The published stream once the directory lists it with every rendition; each case waits for it itself. */
  const liveStream = () =>
    waitFor('the stream in /api/streams', async () => {
      const { text } = await getText(`${urls.orchestrator}/api/streams`);
      assert.ok(!text.includes(STREAM_KEY), 'the directory must never contain a stream key');
      return (JSON.parse(text) as StreamDirectoryEntry[]).find((s) => s.renditions.length === 4);
    });

  /** A rendition's playlist once it lists a segment, and that newest segment's name. */
  const renditionPlaylist = (base: string) =>
    waitFor(`a segment in ${base}/index.m3u8`, async () => {
      const res = await getText(`${base}/index.m3u8`);
      const last = res.text.trim().split('\n').filter((l) => l.endsWith('.ts')).pop();
      return res.status === 200 && last ? { ...res, last } : undefined;
    });

  it('prints the RTMP URL, a stream key and a watch URL', () => {
    assert.match(urls.rtmp, /^rtmp:\/\/127\.0\.0\.1:\d+\/live$/);
    assert.match(stdout, /Stream key: sk_[A-Za-z0-9_-]+/);
    assert.match(stdout, /Watch it at\s+http:\/\/127\.0\.0\.1:\d+\/watch\/[A-Za-z0-9_-]+/);
    assert.equal(urls.metrics.length, 4);
  });

  it('prints the dashboard URL and its admin token; the page answers there and a key is made only with the token', async () => {
    const dashboard = /Dashboard\s+(http:\/\/\S+\/dashboard)/.exec(stdout)![1]!;
    const token = /admin token \(creates stream keys there\): (cat_[A-Za-z0-9_-]+)/.exec(stdout)![1]!;
    assert.equal((await getText(dashboard)).status, 200);
    assert.equal((await fetch(`${dashboard}/stream-keys`, { method: 'POST' })).status, 401);
    const made = await fetch(`${dashboard}/stream-keys`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(made.status, 201);
    assert.equal(((await made.json()) as { server: string }).server, urls.rtmp);
    // A dev key: the keys castnet dev printed keep publishing (the tests below use them).
  });

  it('prints the operator key, which castnet deposit and castnet nodes sign with, and nothing unsigned deposits', async () => {
    assert.match(stdout, new RegExp(`Operator key\\s+${dataDir.replace(/[.]/g, '\\.')}/keys/operator\\.key \\(0x[0-9a-f]{40}\\)`));
    const account = `0x${'5a'.repeat(20)}`;
    const cli = (...args: string[]) => promisify(execFile)(process.execPath, ['bin/castnet.js', ...args], { encoding: 'utf8' });
    const deposited = await cli('deposit', '7', '--to', account, '--data-dir', dataDir, '--orchestrator', urls.orchestrator);
    assert.match(deposited.stdout, /deposit\s+0\.000000000000000007 ETH \(7 wei\)/);
    const listed = await cli('nodes', 'list', '--orchestrator', urls.orchestrator);
    assert.match(listed.stdout, /relay\s+http:\/\/127\.0\.0\.1:\d+\s+active\s+1\.00/);
    assert.match(listed.stdout, /transcoder\s+http:\/\/127\.0\.0\.1:\d+\s+active\s+1\.00/);
    const unsigned = await fetch(`${urls.orchestrator}/api/ledger/deposits`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: account, amount: '1' }) });
    assert.equal(unsigned.status, 401);
  });

  it('lists the published stream in the directory without its stream key', async () => {
    const stream = await liveStream();
    assert.notEqual(stream.playbackId, STREAM_KEY);
    assert.equal(stream.playbackUrl, `${urls.relay}/hls/${stream.playbackId}/master.m3u8`);
    assert.deepEqual(stream.renditions.map((r) => r.name), ['source', '720p', '480p', '360p']);
    assert.ok(!Number.isNaN(Date.parse(stream.startedAt)));
    // castnet dev says on its console when a stream goes live, with what it is and where to watch it.
    await waitFor('the live line', () => stdout.includes(`● live   ${stream.playbackId} 1280x720 30 fps → 720p,480p,360p  watch: ${urls.relay}/watch/${stream.playbackId}\n`), 10_000);
    const nodes = JSON.parse((await getText(`${urls.orchestrator}/api/nodes`)).text) as Array<{ role: string; address: string; capabilities: { encoders: string[] }; load: object }>;
    assert.deepEqual(nodes.map((n) => n.role).sort(), ['relay', 'transcoder']);
    assert.deepEqual(nodes.find((n) => n.role === 'transcoder')!.capabilities.encoders, ['libx264']);
  });

  it('serves a multivariant playlist with BANDWIDTH, RESOLUTION and CODECS for source and every rung', async () => {
    const stream = await liveStream();
    const master = await waitFor('all four variants in the master playlist', async () => {
      const { status, text, headers } = await getText(stream.playbackUrl);
      assert.equal(headers.get('content-type'), 'application/vnd.apple.mpegurl');
      return status === 200 && (text.match(/#EXT-X-STREAM-INF/g) ?? []).length === 4 ? text : undefined;
    });
    const variants = [...master.matchAll(/#EXT-X-STREAM-INF:(.*)\n(.*)/g)].map((m) => ({ attrs: m[1]!, uri: m[2]! }));
    assert.deepEqual(variants.map((v) => v.uri), ['source/index.m3u8', '720p/index.m3u8', '480p/index.m3u8', '360p/index.m3u8']);
    for (const v of variants) {
      assert.match(v.attrs, /BANDWIDTH=\d+/);
      assert.match(v.attrs, /RESOLUTION=\d+x\d+/);
      assert.match(v.attrs, /CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);
    }
  });

  it('serves every rendition at its resolution with H.264 video, AAC audio and program date times', async () => {
    const stream = await liveStream();
    const expected: Record<string, [number, number]> = { source: [1280, 720], '720p': [1280, 720], '480p': [854, 480], '360p': [640, 360] };
    for (const [name, [width, height]] of Object.entries(expected)) {
      const base = `${urls.relay}/hls/${stream.playbackId}/${name}`;
      const { text: playlist, headers, last } = await renditionPlaylist(base);
      assert.match(headers.get('cache-control') ?? '', /max-age=1\b/);
      assert.match(playlist, /#EXT-X-PROGRAM-DATE-TIME:\d{4}-\d\d-\d\dT/);
      assert.match(playlist, /#EXT-X-TARGETDURATION:2\n/);
      const segment = await fetch(`${base}/${last}`);
      assert.equal(segment.headers.get('content-type'), 'video/mp2t');
      assert.match(segment.headers.get('cache-control') ?? '', /immutable/);
      assert.equal(segment.headers.get('access-control-allow-origin'), '*');
      await segment.arrayBuffer();
      const info = await ffprobe(`${base}/${last}`);
      assert.deepEqual([info.width, info.height], [width, height], `${name} resolution`);
      assert.equal(info.videoCodec, 'h264');
      assert.equal(info.audioCodec, 'aac', `${name} carries audio`);
    }
  });

  it("plays the watch page in Chromium: currentTime advances, no error is raised, and every segment played was checked against the directory's publisher key", async () => {
    const stream = await liveStream();
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (err) => pageErrors.push(err.message));
      await page.goto(`${urls.relay}/watch/${stream.playbackId}`);
      const first = await waitFor('playback to start', async () => {
        const s = (await page.evaluate(samplePlayer)) as PlaybackSample | null;
        return s && s.currentTime > 1 ? s : undefined;
      }, 30_000, 200);
      // Real-time playback covers 1.5 s of media in about 1.5 s; the bound leaves room for a slow machine.
      const later = await waitFor(`currentTime to advance 1.5 s past ${first.currentTime}`, async () => {
        const s = (await page.evaluate(samplePlayer)) as PlaybackSample;
        return s.currentTime > first.currentTime + 1.5 ? s : undefined;
      }, 10_000, 200);
      assert.deepEqual(later.errors, []);
      assert.equal(later.mediaError, null);
      assert.deepEqual(pageErrors, []);
      const v = later.verification!;
      const entry = JSON.parse((await getText(`${urls.orchestrator}/api/streams/${stream.playbackId}`)).text) as { publisher: string };
      assert.deepEqual([v.publisher, v.publisherSource, v.refused], [entry.publisher, 'directory', 0], JSON.stringify(v.refusals));
      assert.ok(v.verified >= 1, `${v.verified} segments verified`);
      assert.match(await page.evaluate(`document.querySelector('castnet-player').shadowRoot.querySelector('.verified').textContent`) as string, /✓ \d+ signed by 0x/);
      const embed = await browser.newPage();
      await embed.goto(`${urls.relay}/embed/${stream.playbackId}`);
      await waitFor('the embed page to play', async () => (((await embed.evaluate(samplePlayer)) as PlaybackSample | null)?.currentTime ?? 0) > 0.5, 30_000, 200);
    } finally {
      await browser.close();
    }
  });

  it('exposes the required metrics on every node', async () => {
    const stream = await liveStream();
    // A viewer of its own, so the relay has served a segment to count.
    const base = `${urls.relay}/hls/${stream.playbackId}/720p`;
    const { last } = await renditionPlaylist(base);
    await (await fetch(`${base}/${last}`)).arrayBuffer();
    const required = [
      /^castnet_broadcaster_segments_ingested_total\{[^}]*\} [1-9]/m,
      /^castnet_transcoder_segments_transcoded_total\{[^}]*result="ok"[^}]*\} [1-9]/m,
      /^castnet_transcoder_transcode_seconds_bucket\{[^}]*rendition="720p"/m,
      /^castnet_broadcaster_segment_latency_seconds_bucket\{[^}]*rendition="source"/m,
      /^castnet_relay_http_requests_total\{[^}]*kind="segment"/m,
      /^castnet_relay_cache_requests_total\{[^}]*result="hit"/m,
      /^castnet_relay_active_streams\{[^}]*\} 1$/m,
      /^castnet_broadcaster_active_streams\{[^}]*\} 1$/m,
      /^castnet_process_cpu_seconds_total/m,
    ];
    await waitFor('every required metric', async () => {
      const all = (await Promise.all(urls.metrics.map(async (url) => (await getText(url)).text))).join('\n');
      const missing = required.filter((m) => !m.test(all));
      if (missing.length) throw new Error(`missing ${missing.join(', ')}`);
      return true;
    }, 15_000);
    for (const url of urls.metrics) assert.equal((await getText(url.replace('/metrics', '/healthz'))).status, 200);
    // GET / on every node says what it is (the banner lists them orchestrator, transcoder, relay, broadcaster).
    const roles = await Promise.all(urls.metrics.map(async (url) => (JSON.parse((await getText(url.replace('/metrics', '/'))).text) as { role: string }).role));
    assert.deepEqual(roles, ['orchestrator', 'transcoder', 'relay', 'broadcaster']);
    // The relay reports its audience to the orchestrator with each heartbeat.
    await waitFor('relay stats in /api/nodes', async () => {
      const nodes = JSON.parse((await getText(`${urls.orchestrator}/api/nodes`)).text) as Array<{ role: string; stats?: Array<{ playbackId: string; viewers: number; bytesServed: number }> }>;
      const s = nodes.find((n) => n.role === 'relay')?.stats?.find((x) => x.playbackId === stream.playbackId);
      return s && s.viewers >= 1 && s.bytesServed > 0;
    }, 10_000);
  });
});
