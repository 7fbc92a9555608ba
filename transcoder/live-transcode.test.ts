// Progressive transcoding over real HTTP with real FFmpeg: a CMAF segment sent fragment by fragment at
// the pace it is ingested comes back as every rendition's init segment and fragments while it is still
// being sent, on the source's timeline, each rendition at its size; and the refusals: no payment (402, no
// FFmpeg started), input that is not CMAF (an error frame, FFmpeg gone), a sender that gives up mid-segment
// (its FFmpeg killed, the slot free), a declared body over the limit (413 before a byte is read), a streamed
// body that grows past it (cut off with PAYLOAD_TOO_LARGE), an upload that stalls (cut off, the slot free).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startLiveTranscode } from '../broadcaster/live-transcode-client.ts';
import { ffmpegBinaries } from '../media/ffmpeg-binaries.ts';
import { Fmp4Splitter, fragmentTiming, initIdentity, initVideoSize, parseInit } from '../media/fmp4.ts';
import { silentLogger } from '../observability/logger.ts';
import { CastnetError } from '../protocol/errors.ts';
import type { Frame } from '../protocol/fragment-stream.ts';
import { fitLadder } from '../protocol/rendition.ts';
import { liveTranscodeHeaders, transcodeHeaders } from '../protocol/transcode-request.ts';
import { waitFor } from '../test/support/wait.ts';
import { runLiveLadder, type LiveRunner } from './live-transcode.ts';
import { createTranscoder, type Transcoder } from './transcoder.ts';

const ladder = fitLadder({ width: 640, height: 360, fps: 30 }).filter((r) => r.height <= 240 || r.height === 360).slice(0, 2);
const params = (seq: number) => ({ playbackId: 'live1', seq, renditions: ladder, sourceFps: 30, sourceAudio: 'aac' });
const live = { paidSeconds: 2.2, partTarget: 0.334 };
const PACE_MS = 300;

/** 4 s of 640×360 H.264/AAC as the broadcaster's CMAF cutter writes it: keyframes every 2 s, a fragment every 0.3 s. */
function cmafSource(video: string[] = ['-bf', '2'], audioFilter = 'anull'): { init: Buffer; fragments: Buffer[] } {
  const dir = mkdtempSync(join(tmpdir(), 'castnet-live-src-'));
  try {
    const out = join(dir, 'src.mp4');
    const r = spawnSync(ffmpegBinaries().ffmpeg, ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '4', '-c:v', 'libx264', '-preset', 'veryfast', '-g', '60', ...video, '-af', audioFilter, '-c:a', 'aac', '-b:a', '96k', '-f', 'mp4', '-movflags', 'empty_moov+default_base_moof+frag_keyframe', '-frag_duration', '300000', out]);
    assert.equal(r.status, 0, r.stderr.toString());
    let init: Buffer | null = null;
    const fragments: Buffer[] = [];
    new Fmp4Splitter({ init: (b) => (init = b), fragment: (b) => fragments.push(b) }).push(readFileSync(out));
    return { init: init!, fragments };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function metric(url: string, name: string): Promise<number> {
  const line = (await (await fetch(`${url}/metrics`)).text()).split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('progressive transcoding (POST /transcode/live)', () => {
  let source: { init: Buffer; fragments: Buffer[] };
  /** The second segment (from 2 s): its fragments, which start at a keyframe. */
  let segment: Buffer[];
  let free: Transcoder;
  let runs = 0;
  const counting: LiveRunner = (job, onOutput, signal) => {
    runs++;
    return runLiveLadder(job, onOutput, signal);
  };
  const started: Transcoder[] = [];

  beforeAll(async () => {
    source = cmafSource();
    const tracks = parseInit(source.init);
    segment = source.fragments.filter((f) => fragmentTiming(f, tracks).start >= 1.99);
    assert.ok(fragmentTiming(segment[0]!, tracks).independent, 'the segment starts at a keyframe');
    free = await createTranscoder({ httpPort: 0, orchestrator: false, encoder: 'libx264', dataDir: null, pricePerPixel: 0n }, { logger: silentLogger, liveFfmpeg: counting });
    await free.start();
    started.push(free);
  });
  afterAll(async () => {
    for (const t of started) await t.stop();
  });

  it('answers each rendition fragment by fragment while the segment is still being sent, on the source timeline, at the rendition sizes', async () => {
    const frames: Array<Frame & { at: number }> = [];
    const call = startLiveTranscode(free.url, params(1), live, { onFrame: (f) => frames.push({ ...f, at: Date.now() }), timeoutMs: 30_000, maxAnswerBytes: 64 * 1024 * 1024 });
    call.write(source.init);
    let lastWriteAt = 0;
    for (const f of segment) {
      call.write(f);
      lastWriteAt = Date.now();
      await new Promise((r) => setTimeout(r, PACE_MS));
    }
    call.end();
    await call.done;
    assert.deepEqual(await call.accepted, { paramsSpent: false });

    const firstFragment = frames.find((f) => f.kind === 'fragment')!;
    assert.ok(firstFragment.at < lastWriteAt, `the first rendition fragment (${firstFragment.at}) came before the last source fragment was sent (${lastWriteAt})`);
    const dir = mkdtempSync(join(tmpdir(), 'castnet-live-out-'));
    try {
      ladder.forEach((spec, i) => {
        const mine = frames.filter((f) => f.rendition === i);
        assert.equal(mine[0]?.kind, 'init', `${spec.name}: its init segment first`);
        assert.equal(mine.filter((f) => f.kind === 'init').length, 1);
        const tracks = parseInit(mine[0]!.payload);
        assert.deepEqual(tracks.map((t) => t.kind).sort(), ['audio', 'video']);
        const fragments = mine.filter((f) => f.kind === 'fragment');
        assert.ok(fragments.length >= 5, `${spec.name}: ${fragments.length} fragments`);
        const timings = fragments.map((f) => fragmentTiming(f.payload, tracks));
        assert.ok(Math.abs(timings[0]!.start - 2) < 0.05, `${spec.name} starts where the source segment does: ${timings[0]!.start}`);
        assert.ok(timings[0]!.independent, 'with a keyframe');
        for (let k = 1; k < timings.length; k++) assert.ok(Math.abs(timings[k]!.start - (timings[k - 1]!.start + timings[k - 1]!.duration)) < 0.001, `${spec.name}: fragment ${k} follows the one before`);
        for (const t of timings.slice(0, -1)) assert.ok(t.duration <= live.partTarget + 0.001, `${spec.name}: a fragment of ${t.duration} s fits the part target`);
        const total = timings.reduce((n, t) => n + t.duration, 0);
        assert.ok(Math.abs(total - 2) < 0.05, `${spec.name}: ${total} s`);
        const file = join(dir, `${spec.name}.mp4`);
        writeFileSync(file, Buffer.concat([mine[0]!.payload, ...fragments.map((f) => f.payload)]));
        const probe = spawnSync(ffmpegBinaries().ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-count_frames', '-show_entries', 'stream=width,height,nb_read_frames', '-of', 'json', file]);
        const stream = (JSON.parse(probe.stdout.toString()) as { streams: Array<{ width: number; height: number; nb_read_frames: string }> }).streams[0]!;
        assert.deepEqual([stream.width, stream.height, Number(stream.nb_read_frames)], [spec.width, spec.height, 60], `${spec.name} decodes at its size, every frame`);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives inits that differ only in bitrate estimates for two segments encoded apart: one identity, so one EXT-X-MAP serves both', async () => {
    const tracks = parseInit(source.init);
    const first = source.fragments.filter((f) => fragmentTiming(f, tracks).start < 1.99);
    const inits: Buffer[][] = [];
    for (const [seq, fragments] of [[6, first], [7, segment]] as const) {
      const frames: Frame[] = [];
      const call = startLiveTranscode(free.url, params(seq), live, { onFrame: (f) => frames.push(f), timeoutMs: 30_000, maxAnswerBytes: 64 * 1024 * 1024 });
      call.write(source.init);
      for (const f of fragments) call.write(f);
      call.end();
      await call.done;
      inits.push(frames.filter((f) => f.kind === 'init').sort((a, b) => a.rendition - b.rendition).map((f) => f.payload));
    }
    ladder.forEach((spec, i) => {
      assert.ok(initIdentity(inits[0]![i]!).equals(initIdentity(inits[1]![i]!)), `${spec.name}: the same identity`);
      assert.deepEqual(initVideoSize(inits[0]![i]!), { width: spec.width, height: spec.height });
    });
  });

  it('resumes where another transcoder stopped: asked for a keyframe at the frame its parts ended on, a stand-in starts a fragment there, at that decode time, and the two decode as one segment', async () => {
    const encode = async (seq: number, keyframesAt?: number[]) => {
      const frames: Frame[] = [];
      const call = startLiveTranscode(free.url, params(seq), { ...live, ...(keyframesAt ? { keyframesAt } : {}) }, { onFrame: (f) => frames.push(f), timeoutMs: 30_000, maxAnswerBytes: 64 * 1024 * 1024 });
      call.write(source.init);
      for (const f of segment) call.write(f);
      call.end();
      await call.done;
      return ladder.map((_, i) => {
        const mine = frames.filter((f) => f.rendition === i);
        const tracks = parseInit(mine[0]!.payload);
        return { init: mine[0]!.payload, fragments: mine.slice(1).map((f) => ({ bytes: f.payload, ...fragmentTiming(f.payload, tracks) })) };
      });
    };
    // The first transcoder's parts: its first two fragments of each rendition went out before it died.
    const first = await encode(8);
    const sent = first.map((r) => r.fragments.slice(0, 2));
    const keyframesAt = sent.map((f) => f[0]!.samples + f[1]!.samples);
    const standIn = await encode(8, keyframesAt);
    const dir = mkdtempSync(join(tmpdir(), 'castnet-live-resume-'));
    try {
      ladder.forEach((spec, i) => {
        assert.ok(initIdentity(standIn[i]!.init).equals(initIdentity(first[i]!.init)), `${spec.name}: the stand-in's init serves the parts that went out`);
        const end = sent[i]![1]!.start + sent[i]![1]!.duration;
        const from = standIn[i]!.fragments.findIndex((f) => f.start + f.duration > end + 0.001);
        const resumed = standIn[i]!.fragments.slice(from);
        assert.ok(Math.abs(resumed[0]!.start - end) < 0.001, `${spec.name}: a stand-in fragment starts at ${end.toFixed(4)} s, where the parts ended (${resumed[0]!.start.toFixed(4)})`);
        assert.ok(resumed[0]!.independent, `${spec.name}: with a keyframe, at frame ${keyframesAt[i]}`);
        const file = join(dir, `${spec.name}.mp4`);
        writeFileSync(file, Buffer.concat([first[i]!.init, ...sent[i]!.map((f) => f.bytes), ...resumed.map((f) => f.bytes)]));
        const probe = spawnSync(ffmpegBinaries().ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-count_frames', '-show_entries', 'stream=width,height,nb_read_frames', '-of', 'json', file]);
        const stream = (JSON.parse(probe.stdout.toString()) as { streams: Array<{ width: number; height: number; nb_read_frames: string }> }).streams[0]!;
        assert.deepEqual([stream.width, stream.height, Number(stream.nb_read_frames)], [spec.width, spec.height, 60], `${spec.name}: the parts and the stand-in's rest decode as one segment, every frame`);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses resume points that are not one frame number per rendition 400, before any FFmpeg', async () => {
    const before = runs;
    const many = ladder.map(() => '12');
    for (const keyframesAt of [[...many, '12'].join(','), 'abc', [...many.slice(1), '-1'].join(','), [...many.slice(1), '99999'].join(','), '']) {
      const res = await fetch(`${free.url}/transcode/live`, {
        method: 'POST',
        headers: { 'content-type': 'video/mp4', ...transcodeHeaders(params(9)), ...liveTranscodeHeaders(live), 'castnet-keyframes-at': keyframesAt },
        body: new Uint8Array(source.init),
      });
      assert.equal(res.status, 400, `castnet-keyframes-at: ${keyframesAt}`);
      assert.match(((await res.json()) as { error: { message: string } }).error.message, /resume points|keyframesAt|frame numbers/);
    }
    assert.equal(runs, before, 'no FFmpeg for a refused request');
  });

  // Before FFmpeg's stretched first sample was undone, every segment of such a source started with one audio
  // sample of up to 104 ms, which MSE trims where it overlaps the segment before, leaving a hole there where
  // Chromium stalled (measured on the broadcaster's own cutter output: an 83 ms hole at every segment start).
  it('leaves no audio hole at a segment start across segments encoded apart (FFmpeg\'s stretched first sample undone)', async () => {
    // As the demo and bench publishers send it: no B-frames (x264 zerolatency), the audio a little after the video.
    const publisher = cmafSource(['-tune', 'zerolatency'], 'adelay=16:all=1');
    const tracks = parseInit(publisher.init);
    const first = publisher.fragments.filter((f) => fragmentTiming(f, tracks).start < 1.99);
    const second = publisher.fragments.filter((f) => fragmentTiming(f, tracks).start >= 1.99);
    let init: Buffer | null = null;
    const fragments: Buffer[] = [];
    for (const [seq, input] of [[10, first], [11, second]] as const) {
      const call = startLiveTranscode(free.url, params(seq), live, { onFrame: (f) => (f.rendition === 0 ? (f.kind === 'init' ? (init ??= f.payload) : fragments.push(f.payload)) : undefined), timeoutMs: 30_000, maxAnswerBytes: 64 * 1024 * 1024 });
      call.write(publisher.init);
      for (const f of input) call.write(f);
      call.end();
      await call.done;
    }
    const dir = mkdtempSync(join(tmpdir(), 'castnet-live-join-'));
    try {
      const file = join(dir, 'joined.mp4');
      writeFileSync(file, Buffer.concat([init!, ...fragments]));
      // Audio: no hole (a later packet starting past the end of the one before). It may overlap where this
      // source's own fragments overlap (a fragment cut at a video keyframe carries the audio muxed around it).
      const probe = spawnSync(ffmpegBinaries().ffprobe, ['-v', 'error', '-select_streams', 'a', '-show_entries', 'packet=dts_time,duration_time', '-of', 'csv=p=0', file]);
      const packets = probe.stdout.toString().trim().split('\n').map((l) => l.split(',').map(Number) as [number, number]);
      assert.ok(packets.length > 150, `${packets.length} audio packets`);
      for (let i = 1; i < packets.length; i++) {
        const gap = packets[i]![0] - (packets[i - 1]![0] + packets[i - 1]![1]);
        assert.ok(gap < 0.002, `audio packet ${i} at ${packets[i]![0]} s leaves no hole after the one before (gap ${gap.toFixed(4)} s)`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a paid node\'s unpaid request 402 before it starts FFmpeg, and reads none of the body', async () => {
    const paid = await createTranscoder({ httpPort: 0, orchestrator: false, encoder: 'libx264', dataDir: null, pricePerPixel: 1n }, { logger: silentLogger, liveFfmpeg: counting });
    await paid.start();
    started.push(paid);
    const before = runs;
    const call = startLiveTranscode(paid.url, params(2), live, { onFrame: () => assert.fail('no frame'), timeoutMs: 10_000, maxAnswerBytes: 1 << 20 });
    call.write(source.init);
    await assert.rejects(call.accepted, (err: CastnetError) => err.code === 'PAYMENT_REQUIRED' && err.context.status === 402);
    await assert.rejects(call.done);
    assert.equal(runs, before, 'no FFmpeg for an unpaid request');
  });

  it('answers input that is not CMAF with an error frame naming the problem, and frees the slot', async () => {
    const call = startLiveTranscode(free.url, params(3), live, { onFrame: () => {}, timeoutMs: 10_000, maxAnswerBytes: 1 << 20 });
    call.write(Buffer.alloc(188 * 20, 0x47));
    call.end();
    await assert.rejects(call.done, (err: CastnetError) => err.code === 'INVALID_SEGMENT' && /not CMAF|fragmented MP4/.test(err.message));
    await waitFor('the slot to be free', async () => (await metric(free.url, 'castnet_transcoder_segments_in_flight')) === 0, 5_000, 50);
  });

  it('kills the encode of a sender that gives up mid-segment: the slot is free and nothing more is sent', async () => {
    const gaveUp = new AbortController();
    let frames = 0;
    const call = startLiveTranscode(free.url, params(4), live, { onFrame: () => frames++, timeoutMs: 10_000, maxAnswerBytes: 64 << 20, signal: gaveUp.signal });
    call.write(source.init);
    for (const f of segment.slice(0, 3)) call.write(f);
    await call.accepted;
    await waitFor('the encode to run', async () => (await metric(free.url, 'castnet_transcoder_segments_in_flight')) === 1, 5_000, 50);
    gaveUp.abort();
    await assert.rejects(call.done, (err: CastnetError) => err.code === 'UNAVAILABLE');
    await waitFor('the slot to be free', async () => (await metric(free.url, 'castnet_transcoder_segments_in_flight')) === 0, 5_000, 50);
  });

  it('cuts off a streamed body that grows past the segment limit, and one that stalls, freeing the slot each time', async () => {
    const small = await createTranscoder({ httpPort: 0, orchestrator: false, encoder: 'libx264', dataDir: null, pricePerPixel: 0n, maxSegmentBytes: 200_000, httpUploadIdleMs: 500 }, { logger: silentLogger, liveFfmpeg: counting });
    await small.start();
    started.push(small);
    const big = startLiveTranscode(small.url, params(8), live, { onFrame: () => {}, timeoutMs: 10_000, maxAnswerBytes: 64 << 20 });
    big.write(source.init);
    for (const f of segment) big.write(f); // the segment is larger than 200 kB
    big.end();
    // The answer had begun (a free node accepts at once): the refusal is its last frame.
    await assert.rejects(big.done, (err: CastnetError) => err instanceof CastnetError && /failed mid-answer: a segment may be at most 200000 bytes/.test(err.message));
    await waitFor('the slot to be free after the oversized body', async () => (await metric(small.url, 'castnet_transcoder_segments_in_flight')) === 0, 5_000, 50);

    const stalled = startLiveTranscode(small.url, params(9), live, { onFrame: () => {}, timeoutMs: 10_000, maxAnswerBytes: 64 << 20 });
    stalled.write(source.init);
    stalled.write(segment[0]!); // and nothing more, never ended
    // The guard closes the connection of an upload silent for httpUploadIdleMs: the sender sees it cut.
    await assert.rejects(stalled.done, (err: CastnetError) => err instanceof CastnetError && /aborted|socket hang up|cut off/.test(err.message));
    await waitFor('the slot to be free after the stalled upload', async () => (await metric(small.url, 'castnet_transcoder_segments_in_flight')) === 0, 5_000, 50);
    const refused = (await (await fetch(`${small.url}/metrics`)).text()).split('\n').filter((l) => l.startsWith('castnet_transcoder_http_refused_total{'));
    assert.ok(refused.some((l) => l.includes('reason="upload_stalled"') && Number(l.split(' ').at(-1)) >= 1), `the stall is counted: ${refused.join('; ')}`);
  });

  it('refuses a declared body over the segment limit 413 before reading it, and closes the connection', async () => {
    const headers = Object.entries({ 'content-type': 'video/mp4', 'content-length': String(1 << 30), ...transcodeHeaders(params(5)), ...liveTranscodeHeaders(live) }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(Number(new URL(free.url).port), '127.0.0.1', () => socket.write(`POST /transcode/live HTTP/1.1\r\nhost: x\r\n${headers}\r\n`));
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => (text += c));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
    });
    assert.match(answer, /^HTTP\/1\.1 413/);
    assert.match(answer, /at most \d+ bytes; content-length says 1073741824/);
  });
});
