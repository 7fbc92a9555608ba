// Recordings, rewind and thumbnails end to end, with a real FFmpeg publisher through the whole network: the
// origin relay records every segment it accepted, serves the live stream's rewind window and thumbnail while
// it is published, and once it ended plays it back as VOD (segments byte-identical to the live ones, with
// the same signature headers), reports recording.ready (a webhook at a real receiver), keeps it across a
// restart of the relay, deletes the oldest first to stay within --recording-bytes (logging it), and refuses
// paths that are not recordings. A low-latency stream's CMAF source is recorded with its init segments and
// plays back as VOD in Chromium with every segment verified.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, types } from 'hls-parser';
import { pino } from 'pino';
import { afterEach, describe, it } from 'vitest';
import { jpegSize } from '../media/jpeg.ts';
import { createRelay } from '../relay/relay.ts';
import { runKeys } from '../cli/keys.ts';
import type { RecordingSummary } from '../relay/recordings.ts';
import { CONTENT_SIGNATURE_HEADER } from '../protocol/content-signature.ts';
import type { StreamStatus } from '../protocol/stream-status.ts';
import { getText, publish, startNetwork, stopAll, waitFor, waitForActive, type Publisher, type TestNetwork } from './support/network.ts';
import { launchChromium, samplePlayer, type PlaybackSample } from './support/browser.ts';
import { startWebhookReceiver } from './support/webhook-receiver.ts';

async function getBytes(url: string): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

/** A GET with the path sent exactly as written (fetch would resolve `..` before sending it). */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: 'GET', timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const media = (text: string) => parse(text) as types.MediaPlaylist;
const master = (text: string) => parse(text) as types.MasterPlaylist;

describe('recordings, rewind and thumbnails', () => {
  let net: TestNetwork | undefined;
  const publishers: Publisher[] = [];
  const closing: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await stopAll(publishers, net);
    net = undefined;
    for (const close of closing.splice(0)) await close();
  });

  it("keeps no recording of a stream whose key says `castnet keys record <key> off`, while the origin records the stream beside it", async () => {
    const relayDir = join(tmpdir(), `castnet-recording-off-${process.pid}-${Date.now()}`);
    closing.push(async () => rmSync(relayDir, { recursive: true, force: true }));
    net = await startNetwork({}, {}, 10n ** 18n, { transcoder: false, relayOptions: { recording: true, dataDir: relayDir } });
    let out = '';
    for (const key of ['kept', 'unrecorded']) net.broadcaster.keys.add(key);
    assert.equal(await runKeys(['record', 'unrecorded', 'off', '--data-dir', net.dataDir], (t) => (out += t)), 0, out);
    assert.match(out, /recording off/);
    const ids = ['kept', 'unrecorded'].map((key) => net!.broadcaster.keys.resolve(key));
    for (const key of ['kept', 'unrecorded']) publishers.push(publish(`${net.broadcaster.rtmpUrl}/${key}`, { width: 320, height: 180 }));
    const segments = async (id: string) => ((await getText(`${net!.relay.url}/hls/${id}/source/index.m3u8`)).text.match(/\.ts$/gm) ?? []).length;
    await waitFor('three segments of both streams at the origin', async () => (await segments(ids[0]!)) >= 3 && (await segments(ids[1]!)) >= 3, 60_000, 200);
    const recordingsOf = async (id: string) => JSON.parse((await getText(`${net!.relay.url}/api/recordings?playbackId=${id}`)).text) as RecordingSummary[];
    await waitFor('the kept stream recorded', async () => ((await recordingsOf(ids[0]!))[0]?.segments ?? 0) >= 2, 10_000, 200);
    assert.deepEqual(await recordingsOf(ids[1]!), [], 'no recording of the stream whose key says off');
    assert.equal((await getText(`${net.relay.url}/dvr/${ids[1]}/master.m3u8`)).status, 404, 'nothing to rewind over');
  });

  it("records a low-latency stream's CMAF source with its init segments (EXT-X-MAP, .m4s) and plays the recording back as VOD in the player, every segment verified", async () => {
    const relayDir = join(tmpdir(), `castnet-recording-ll-${process.pid}-${Date.now()}`);
    closing.push(async () => rmSync(relayDir, { recursive: true, force: true }));
    net = await startNetwork({ lowLatency: true, partTarget: 0.334, reconnectGraceMs: 1_000 }, {}, 10n ** 18n, { relayOptions: { recording: true, dataDir: relayDir } });
    const publisher = publish(`${net.broadcaster.rtmpUrl}/ll-recorded`, { seconds: 10 });
    publishers.push(publisher);
    const playbackId = net.broadcaster.keys.resolve('ll-recorded');
    const relayUrl = net.relay.url;
    await publisher.exited;
    const recording = await waitFor('the recording to end', async () => {
      const list = JSON.parse((await getText(`${relayUrl}/api/recordings?playbackId=${playbackId}`)).text) as RecordingSummary[];
      return list[0]?.state === 'ended' ? list[0] : undefined;
    }, 30_000, 200);
    assert.ok(recording.renditions.includes('source'), `recorded renditions: ${recording.renditions.join(', ')}`);
    const vod = media((await getText(`${relayUrl}/vod/${recording.recordingId}/source/index.m3u8`)).text);
    assert.equal(vod.playlistType, 'VOD');
    assert.ok(vod.segments.length >= 3, `${vod.segments.length} segments`);
    const init = vod.segments[0]!.map;
    assert.ok(init, 'the first segment has an EXT-X-MAP');
    const base = `${relayUrl}/vod/${recording.recordingId}/source/index.m3u8`;
    const initBytes = await getBytes(new URL(init.uri, base).href);
    assert.equal(initBytes.status, 200);
    assert.equal(initBytes.headers.get('content-type'), 'video/mp4');
    assert.equal(initBytes.bytes.subarray(4, 8).toString('latin1'), 'ftyp', 'an MP4 init segment');
    for (const seg of vod.segments.filter((x) => !x.gap)) {
      assert.match(seg.uri, /\.m4s$/);
      const got = await getBytes(new URL(seg.uri, base).href);
      assert.equal(got.status, 200, seg.uri);
      assert.equal(got.headers.get('content-type'), 'video/mp4');
      assert.ok(got.headers.get(CONTENT_SIGNATURE_HEADER), 'with the publisher signature it was pushed with');
    }

    // Hostile CMAF paths: refused with a reason (400 for what is no recording path, 404 for what this
    // recording does not hold), nothing read outside the recording's directory, no bytes of another kind.
    const first = new URL(vod.segments.find((x) => !x.gap)!.uri, base).pathname;
    const dir = first.slice(0, first.lastIndexOf('/'));
    const seq = first.slice(first.lastIndexOf('/') + 1, -'.m4s'.length);
    const initSeq = new URL(init.uri, base).pathname.match(/init-(\d+)\.mp4$/)![1]!;
    const refused: Array<[string, number]> = [
      [`${dir}/${seq}.ts`, 404], // a CMAF segment asked for as MPEG-TS
      [`${dir}/init-999999.mp4`, 404],
      [`${dir}/init-${initSeq}.mp4/../../../recordings.sqlite`, 400],
      [`${dir}/init-..%2f..%2frecordings.sqlite.mp4`, 400],
      [`${dir}/init-${initSeq}.m4s`, 400],
      [`${dir}/init-99999999999999999999.mp4`, 400],
      [`${dir}/99999999999999999999.m4s`, 400],
      [`${dir}/${seq}.m4s%00.ts`, 400],
      [`${dir.replace(`/hls/${playbackId}/`, '/hls/another-stream/')}/init-${initSeq}.mp4`, 404],
      [`${dir.replace(/\/source$/, '/720p')}/init-${initSeq}.mp4`, 404],
      [`${dir.replace(/\/source$/, '/720p')}/${seq}.m4s`, 404],
    ];
    for (const [path, expected] of refused) {
      const res = await rawGet(relayUrl, path);
      assert.equal(res.status, expected, `${path}: ${res.body}`);
      assert.match((JSON.parse(res.body) as { error: { message: string } }).error.message, /\w/, `${path} says why`);
    }

    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (err) => pageErrors.push(err.message));
      // The source rendition only: the player verifies every CMAF segment and init it plays.
      await page.goto(`${relayUrl}/watch/${playbackId}`);
      await page.evaluate(`document.querySelector('castnet-player').setAttribute('src', ${JSON.stringify(`${relayUrl}/vod/${recording.recordingId}/source/index.m3u8`)})`);
      const sample = await waitFor('the recording playing past 4 s', async () => {
        const x = (await page.evaluate(samplePlayer)) as PlaybackSample | null;
        return x && x.currentTime > 4 ? x : undefined;
      }, 45_000, 200);
      assert.equal(sample.verification?.refused, 0, 'every recorded segment checks against the publisher key');
      assert.ok((sample.verification?.verified ?? 0) >= 2, `verified ${sample.verification?.verified}`);
      assert.equal(sample.mediaError, null);
      assert.deepEqual(pageErrors, []);
    } finally {
      await browser.close();
    }
  });

  it('records a published stream, rewinds it while live, plays it back as VOD byte for byte with its signatures, reports recording.ready, survives a relay restart and deletes the oldest first within --recording-bytes', async () => {
    const secret = 'whsec_recording-test-secret-0';
    const receiver = await startWebhookReceiver(secret);
    closing.push(() => receiver.close());
    // The relay's own data directory, kept across its restart.
    const relayDir = join(tmpdir(), `castnet-recording-${process.pid}-${Date.now()}`);
    closing.push(async () => rmSync(relayDir, { recursive: true, force: true }));
    net = await startNetwork({ reconnectGraceMs: 1_000 }, {}, 10n ** 18n, { relayOptions: { recording: true, dataDir: relayDir } });
    net.broadcaster.keys.add('recorded');
    net.broadcaster.keys.update('recorded', (k) => {
      k.webhooks = [{ url: receiver.url, secret }];
    });
    const publisher = publish(`${net.broadcaster.rtmpUrl}/recorded`, { seconds: 18 });
    publishers.push(publisher);
    const playbackId = net.broadcaster.keys.resolve('recorded');
    const relayUrl = net.relay.url;

    // While live: every segment of every rendition as the live playlists list it, with its signature.
    const live = new Map<string, { bytes: Buffer; signature: string | null }>();
    let renditions: string[] = [];
    let thumbnail: Buffer | null = null;
    let dvrChecked = false;
    await waitFor('the publication to end while the test reads it live', async () => {
      const m = await getText(`${relayUrl}/hls/${playbackId}/master.m3u8`);
      if (m.status === 200) renditions = master(m.text).variants.map((v) => v.uri.split('/')[0]!);
      for (const rendition of renditions) {
        const p = await getText(`${relayUrl}/hls/${playbackId}/${rendition}/index.m3u8`);
        if (p.status !== 200) continue;
        for (const s of media(p.text).segments) {
          const key = `${rendition}/${s.mediaSequenceNumber}`;
          if (live.has(key) || s.gap) continue;
          const got = await getBytes(`${relayUrl}/hls/${playbackId}/${rendition}/${s.uri}`);
          if (got.status === 200) live.set(key, { bytes: got.bytes, signature: got.headers.get(CONTENT_SIGNATURE_HEADER) });
        }
      }
      if (!thumbnail) {
        const t = await getBytes(`${relayUrl}/hls/${playbackId}/thumbnail.jpg`);
        if (t.status === 200) {
          assert.equal(t.headers.get('content-type'), 'image/jpeg');
          assert.match(t.headers.get('cache-control') ?? '', /max-age=5/);
          thumbnail = t.bytes;
        }
      }
      // The rewind window reaches back past the live playlist once the stream is longer than it.
      if (!dvrChecked && renditions.length > 0) {
        const livePlaylist = media((await getText(`${relayUrl}/hls/${playbackId}/${renditions[0]}/index.m3u8`)).text);
        const dvrMaster = await getText(`${relayUrl}/dvr/${playbackId}/master.m3u8`);
        const dvr = await getText(`${relayUrl}/dvr/${playbackId}/${renditions[0]}/index.m3u8`);
        if (dvrMaster.status === 200 && dvr.status === 200 && media(dvr.text).segments.length > livePlaylist.segments.length) {
          const window = media(dvr.text);
          assert.equal(window.endlist, false, 'a live rewind window has no ENDLIST');
          assert.equal(window.playlistType, undefined);
          assert.ok(window.mediaSequenceBase! < livePlaylist.mediaSequenceBase!, 'it starts before the live playlist');
          const newest = window.segments.at(-1)!.mediaSequenceNumber;
          assert.ok(newest >= livePlaylist.segments.at(-1)!.mediaSequenceNumber - 1, 'its live edge is the live one');
          const seg = await getBytes(new URL(window.segments[0]!.uri, `${relayUrl}/dvr/${playbackId}/${renditions[0]}/index.m3u8`).href);
          assert.equal(seg.status, 200);
          assert.ok(seg.headers.get(CONTENT_SIGNATURE_HEADER));
          dvrChecked = true;
        }
      }
      return publisher.child.exitCode !== null;
    }, 40_000, 500);
    assert.ok(dvrChecked, 'the rewind window was longer than the live playlist while live');
    assert.ok(thumbnail, 'a live thumbnail was served');
    const size = jpegSize(thumbnail);
    assert.deepEqual(size, { width: 640, height: 360 }, 'the thumbnail is a JPEG of the source picture');
    assert.equal((thumbnail as Buffer).at(-2), 0xff);
    assert.equal((thumbnail as Buffer).at(-1), 0xd9, 'the JPEG ends with EOI');

    // Ended: ENDLIST at the live playlist, then the recording is ready.
    await waitFor('ENDLIST at the live playlist', async () => (await getText(`${relayUrl}/hls/${playbackId}/${renditions[0]}/index.m3u8`)).text.includes('#EXT-X-ENDLIST'), 30_000);
    const event = await waitFor('recording.ready at the receiver', () => receiver.events().find((e) => e.type === 'recording.ready'), 15_000, 100);
    const listed = JSON.parse((await getText(`${relayUrl}/api/recordings?playbackId=${playbackId}`)).text) as RecordingSummary[];
    assert.equal(listed.length, 1);
    const rec = listed[0]!;
    assert.equal(rec.state, 'ended');
    assert.equal(rec.playbackId, playbackId);
    assert.equal(event.data.recordingId, rec.recordingId);
    assert.equal(event.data.playbackUrl, `${relayUrl}/vod/${rec.recordingId}/master.m3u8`);
    assert.deepEqual([...rec.renditions].sort(), [...renditions].sort());
    assert.ok(rec.durationSeconds >= 10, `recorded ${rec.durationSeconds} s`);
    assert.ok(rec.endedAt && Date.parse(rec.endedAt) > Date.parse(rec.startedAt));
    const status = JSON.parse((await getText(`${net.orchestrator.url}/api/streams/${playbackId}`)).text) as StreamStatus;
    assert.equal((status.recording as { recordingId: string }).recordingId, rec.recordingId);

    // VOD: valid playlists, every live segment byte-identical with the same signature.
    const vodMaster = master((await getText(`${relayUrl}/vod/${rec.recordingId}/master.m3u8`)).text);
    assert.deepEqual(vodMaster.variants.map((v) => v.uri).sort(), renditions.map((r) => `${r}/index.m3u8`).sort());
    let compared = 0;
    for (const rendition of renditions) {
      const url = `${relayUrl}/vod/${rec.recordingId}/${rendition}/index.m3u8`;
      const text = (await getText(url)).text;
      assert.match(text, /#EXT-X-PLAYLIST-TYPE:VOD/);
      assert.match(text, /#EXT-X-ENDLIST/);
      const playlist = media(text);
      assert.equal(playlist.playlistType, 'VOD');
      assert.ok(playlist.endlist);
      const seqs = new Set(playlist.segments.map((s) => s.mediaSequenceNumber));
      for (const [key, seen] of live) {
        const [r, seq] = key.split('/');
        if (r !== rendition) continue;
        assert.ok(seqs.has(Number(seq)), `${key} served live is in the recording`);
        const s = playlist.segments.find((x) => x.mediaSequenceNumber === Number(seq))!;
        const got = await getBytes(new URL(s.uri, url).href);
        assert.equal(got.status, 200);
        assert.ok(got.bytes.equals(seen.bytes), `${key} is byte-identical`);
        assert.equal(got.headers.get(CONTENT_SIGNATURE_HEADER), seen.signature, `${key} carries its live signature`);
        assert.match(new URL(s.uri, url).pathname, new RegExp(`/hls/${playbackId}/${rendition}/${seq}\\.ts$`), "the player's verifier reads the signed names from the path");
        compared++;
      }
    }
    assert.ok(compared >= 10, `compared ${compared} segments`);
    const vodThumb = await getBytes(`${relayUrl}/vod/${rec.recordingId}/thumbnail.jpg`);
    assert.equal(vodThumb.status, 200);
    assert.ok(jpegSize(vodThumb.bytes));
    const dvrEnded = await getText(`${relayUrl}/dvr/${playbackId}/${renditions[0]}/index.m3u8`);
    assert.match(dvrEnded.text, /#EXT-X-ENDLIST/, 'the rewind window of an ended stream ends');

    // Paths that are not recordings: refused, with a reason, nothing read outside the directory.
    const refused: Array<[string, number]> = [
      ['/vod/../../etc/passwd', 400],
      ['/vod/%2e%2e/%2e%2e/etc/master.m3u8', 400],
      [`/vod/${rec.recordingId}/../../recordings.sqlite`, 400],
      [`/vod/${rec.recordingId}/hls/${playbackId}/${renditions[0]}/99999999999999999999.ts`, 400],
      [`/vod/${rec.recordingId}/hls/${playbackId}/${renditions[0]}/999999999999.ts`, 404],
      [`/vod/${rec.recordingId}/hls/another-stream/${renditions[0]}/0.ts`, 404],
      [`/vod/${rec.recordingId}/nope/index.m3u8`, 404],
      ['/vod/rec_unknown/master.m3u8', 404],
      ['/dvr/unknown-stream/master.m3u8', 404],
      ['/api/recordings/..', 400],
    ];
    for (const [path, expected] of refused) {
      const res = await rawGet(relayUrl, path);
      assert.equal(res.status, expected, `${path}: ${res.body}`);
      assert.match((JSON.parse(res.body) as { error: { message: string } }).error.message, /\w/, `${path} says why`);
    }

    // A restart of the relay: the recording is still listed and plays; then a bound smaller than it.
    const port = Number(new URL(relayUrl).port);
    await net.relay.stop();
    const lines: Array<{ msg: string; recordingId?: string }> = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string }) });
    const bound = Math.floor(rec.bytes / 2);
    net.relay = await createRelay({ httpPort: port, dataDir: relayDir, orchestrator: net.orchestrator.url, allowPrivateNodes: true, recording: true, recordingBytes: bound }, { logger });
    await net.relay.start();
    await waitForActive(net.orchestrator.url, net.relay.url);
    const afterRestart = JSON.parse((await getText(`${relayUrl}/api/recordings/${rec.recordingId}`)).text) as RecordingSummary;
    assert.deepEqual(afterRestart, rec, 'the recording survives a restart of its relay');
    assert.match((await getText(`${relayUrl}/vod/${rec.recordingId}/${renditions[0]}/index.m3u8`)).text, /#EXT-X-ENDLIST/);

    net.broadcaster.keys.add('second');
    const second = publish(`${net.broadcaster.rtmpUrl}/second`, { seconds: 6 });
    publishers.push(second);
    const deletion = await waitFor('the oldest recording deleted, logged', () => lines.find((l) => l.recordingId === rec.recordingId && /recording deleted/.test(l.msg)), 30_000, 100);
    assert.match(deletion.msg, new RegExp(`--recording-bytes ${bound}`));
    assert.equal((await getText(`${relayUrl}/vod/${rec.recordingId}/master.m3u8`)).status, 404);
    const now = JSON.parse((await getText(`${relayUrl}/api/recordings`)).text) as RecordingSummary[];
    assert.deepEqual(now.map((r) => r.playbackId), [net.broadcaster.keys.resolve('second')]);
    assert.ok(now.reduce((n, r) => n + r.bytes, 0) <= bound, 'the recordings stay within --recording-bytes');
  });
});
