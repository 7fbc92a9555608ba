// Low-latency HLS end to end on a real network: an FFmpeg publisher over RTMP, the broadcaster cutting CMAF
// parts and pushing each as it exists, the origin relay's LL-HLS playlists checked by an independent parser
// (hls-parser) across reloads, blocking reload with _HLS_msn/_HLS_part, the preload-hinted part held until it
// exists, delta updates equal to the full playlist, and every part and init signed by the publisher.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import HLS from 'hls-parser';
import type { MediaPlaylist } from 'hls-parser/types.js';
import { getText, metric, publish, startNetwork, waitFor, type Publisher, type TestNetwork } from './support/network.ts';
import { checkFollowedSegments, checkLlPlaylist, followLlSegments, type FollowedSegment } from './support/ll-conformance.ts';
import { checkPartSignature, checkInitSignature } from '../protocol/part-signature.ts';
import { sha256 } from '../protocol/segment-signing.ts';

describe('low-latency HLS from RTMP', () => {
  let net: TestNetwork;
  let publisher: Publisher;
  let playbackId: string;
  let base: string;
  /** The stream followed from before its first part: every segment, every playlist. */
  let fromStart: Promise<Map<number, FollowedSegment>>;
  const playlistErrors: string[] = [];

  beforeAll(async () => {
    net = await startNetwork({ lowLatency: true, partTarget: 0.334 });
    playbackId = net.broadcaster.keys.resolve('ll-test');
    base = `${net.relay.url}/hls/${playbackId}/source`;
    fromStart = followLlSegments(`${base}/index.m3u8`, (seen) => seen.size >= 5, 60_000, (text) => {
      try {
        checkLlPlaylist(text);
      } catch (err) {
        playlistErrors.push((err as Error).message);
      }
    });
    fromStart.catch(() => {}); // judged in its test
    publisher = publish(`${net.broadcaster.rtmpUrl}/ll-test`);
    await waitFor('two complete CMAF segments', async () => {
      const r = await getText(`${base}/index.m3u8`);
      return r.status === 200 && (r.text.match(/^\d+\.m4s$/gm) ?? []).length >= 2;
    }, 40_000);
  }, 60_000);

  afterAll(async () => {
    await publisher?.stop();
    await net?.close();
  });

  it("lists every segment from the stream's first with parts that add up to its EXTINF, none above PART-TARGET, in playlists that keep the rules from the start", async () => {
    const seen = await fromStart;
    checkFollowedSegments(seen, 0, 0.334, 1 / 30);
    assert.deepEqual(playlistErrors, [], 'every playlist from the first one passes the LL-HLS rules');
    const partFailures = await metric(net.broadcaster.httpUrl, /^castnet_broadcaster_part_push_failures_total/);
    assert.equal(partFailures, 0, 'no part failed to reach the relay');
  });

  it('transcodes progressively: every rendition is CMAF with parts that keep the LL-HLS rules, its parts at the relay before their source segment is complete, signed by the publisher', async () => {
    const renditions = net.broadcaster.streams.pipelines.get(playbackId)!.ladder.map((r) => r.name);
    assert.ok(renditions.length > 0, 'a ladder below the source');
    const published: Array<{ rendition: string; seq: number; part: number; at: number }> = [];
    const completed = new Map<number, number>();
    const pipeline = net.broadcaster.streams.pipelines.get(playbackId)!;
    pipeline.on('partPublished', (e) => published.push({ ...e, at: Date.now() }));
    pipeline.on('segmentPublished', (e) => {
      if (e.rendition === 'source') completed.set(e.seq, Date.now());
    });
    const rendition = renditions.at(-1)!;
    await waitFor(`parts of ${rendition}`, () => published.filter((p) => p.rendition === rendition).length >= 12, 40_000, 100);
    const text = (await getText(`${net.relay.url}/hls/${playbackId}/${rendition}/index.m3u8`)).text;
    checkLlPlaylist(text);
    const media = HLS.parse(text) as MediaPlaylist;
    assert.match(text, /^#EXT-X-MAP:URI="init-\d+\.mp4"/m, 'an EXT-X-MAP');
    assert.ok(media.segments.some((s) => s.parts.length > 0) || (media.prefetchSegments?.length ?? 0) > 0, `parts listed:\n${text}`);
    // Progressive: some part of a segment reached the relay before the source segment itself was complete.
    const early = published.filter((p) => p.rendition === rendition && completed.has(p.seq) && p.at < completed.get(p.seq)!);
    assert.ok(early.length > 0, `parts before their source segment completed: ${JSON.stringify(published.filter((p) => p.rendition === rendition).slice(0, 8))} ${JSON.stringify([...completed])}`);
    // A complete segment keeps its parts: the relay lists them only when they add up to its EXTINF, and a
    // player on parts reads on into the next segment without waiting for that segment whole.
    const complete = await waitFor(`a complete segment of ${rendition} listed with its parts`, async () => {
      const m = HLS.parse((await getText(`${net.relay.url}/hls/${playbackId}/${rendition}/index.m3u8`)).text) as MediaPlaylist;
      return m.segments.find((s) => s.uri && s.parts.length > 1);
    }, 20_000, 100);
    const partsSum = complete.parts.reduce((sum, p) => sum + (p.duration ?? 0), 0);
    assert.ok(Math.abs(partsSum - complete.duration) <= 0.002, `parts of ${partsSum.toFixed(5)} s in a ${complete.duration} s segment`);
    const newest = published.filter((p) => p.rendition === rendition).at(-1)!;
    const part = await fetch(`${net.relay.url}/hls/${playbackId}/${rendition}/${newest.seq}.${newest.part}.m4s`);
    assert.equal(part.status, 200);
    assert.equal(part.headers.get('content-type'), 'video/mp4');
  });

  it('serves playlists that keep the LL-HLS rules and their numbering across reloads', async () => {
    const snapshots = [];
    let last = checkLlPlaylist((await getText(`${base}/index.m3u8`)).text);
    snapshots.push(last);
    for (let i = 0; i < 8; i++) {
      const s = last.playlist.segments.at(-1)!;
      const nextPart = s.uri ? 0 : s.parts.filter((p) => !p.hint).length;
      const msn = s.uri ? s.mediaSequenceNumber + 1 : s.mediaSequenceNumber;
      const started = performance.now();
      const r = await getText(`${base}/index.m3u8?_HLS_msn=${msn}&_HLS_part=${nextPart}`);
      assert.equal(r.status, 200);
      const next = checkLlPlaylist(r.text);
      assert.ok(performance.now() - started < 3_000, 'a blocking reload returns within a part or two');
      assert.equal(next.partTarget, last.partTarget, 'PART-TARGET never changes');
      assert.equal(next.partHoldBack, last.partHoldBack, 'PART-HOLD-BACK never changes');
      assert.ok(next.first >= last.first, 'the media sequence never goes back');
      // The part asked for is in the answer.
      const held = next.playlist.segments.find((seg) => seg.mediaSequenceNumber === msn);
      assert.ok(held && held.parts.filter((p) => !p.hint).length > (held.uri ? 0 : nextPart - 0) - 0, `segment ${msn} part ${nextPart} is listed`);
      // Segments both playlists list agree.
      for (const seg of next.playlist.segments) {
        const before = last.playlist.segments.find((b) => b.mediaSequenceNumber === seg.mediaSequenceNumber && b.uri);
        if (before && seg.uri) assert.equal(seg.duration, before.duration);
      }
      last = next;
      snapshots.push(next);
    }
    const text = (await getText(`${base}/index.m3u8`)).text;
    assert.match(text, /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="\d+\.\d+\.m4s"/);
    assert.match(text, /#EXT-X-MAP:URI="init-\d+\.mp4"/);
    assert.match(text, /INDEPENDENT=YES/);
  });

  it('holds a request for the preload-hinted part until it exists', async () => {
    const text = (await getText(`${base}/index.m3u8`)).text;
    const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(\d+)\.(\d+)\.m4s"/.exec(text)!;
    const res = await fetch(`${base}/${hint[1]}.${hint[2]}.m4s`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'video/mp4');
    const bytes = new Uint8Array(await res.arrayBuffer());
    const claim = { playbackId, rendition: 'source', seq: Number(hint[1]), part: Number(hint[2]), duration: Number(res.headers.get('castnet-duration')), independent: res.headers.get('castnet-independent') === '1', sha256: sha256(bytes) };
    const directory = JSON.parse((await getText(`${net.orchestrator.url}/api/streams/${playbackId}`)).text) as { publisher: string };
    assert.equal(checkPartSignature(claim, res.headers.get('castnet-content-signature'), directory.publisher), null, "the part is signed by the stream's publisher key");
    const map = /#EXT-X-MAP:URI="init-(\d+)\.mp4"/.exec(text)!;
    const init = await fetch(`${base}/init-${map[1]}.mp4`);
    const initBytes = new Uint8Array(await init.arrayBuffer());
    assert.equal(checkInitSignature({ playbackId, rendition: 'source', seq: Number(map[1]), partTarget: Number(init.headers.get('castnet-part-target')), sha256: sha256(initBytes) }, init.headers.get('castnet-content-signature'), directory.publisher), null);
    // A part far from the hint is not held: 404 at once.
    const far = await fetch(`${base}/${Number(hint[1]) + 5}.0.m4s`);
    assert.equal(far.status, 404);
    await far.arrayBuffer();
  });

  it('answers _HLS_skip=YES with a delta update that equals the full playlist', async () => {
    await waitFor('a playlist long enough to skip', async () => (HLS.parse((await getText(`${base}/index.m3u8`)).text) as MediaPlaylist).segments.filter((s) => s.uri).reduce((t, s) => t + s.duration, 0) > 13, 40_000);
    // Both at the same moment: a blocking reload for the next segment, then both forms of it.
    const now = HLS.parse((await getText(`${base}/index.m3u8`)).text) as MediaPlaylist;
    const msn = now.segments.filter((s) => s.uri).at(-1)!.mediaSequenceNumber + 1;
    const full = (await getText(`${base}/index.m3u8?_HLS_msn=${msn}`)).text;
    const delta = (await getText(`${base}/index.m3u8?_HLS_msn=${msn}&_HLS_skip=YES`)).text;
    const skipped = Number(/#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)/.exec(delta)?.[1]);
    assert.ok(skipped > 0, 'the delta update skips segments');
    const fullLines = full.split('\n').filter((l) => !l.startsWith('#EXT-X-VERSION'));
    const deltaLines = delta.split('\n').filter((l) => !l.startsWith('#EXT-X-VERSION') && !l.startsWith('#EXT-X-SKIP'));
    // What the delta keeps is the tail of the full playlist, line for line (the full one may have moved on by a part).
    const tail = deltaLines.slice(deltaLines.findIndex((l) => /^#EXT-X-(PROGRAM-DATE-TIME|MAP)/.test(l)));
    const start = fullLines.indexOf(tail.find((l) => l.startsWith('#EXT-X-PROGRAM-DATE-TIME'))!);
    assert.ok(start > 0);
    const common = Math.min(tail.length, fullLines.length - start) - 12;
    assert.deepEqual(tail.filter((l) => !l.startsWith('#EXT-X-MAP')).slice(0, common), fullLines.slice(start).slice(0, common));
  });

  it('refuses a blocking reload far ahead of the live edge, and bad part numbers', async () => {
    const r = await getText(`${base}/index.m3u8?_HLS_msn=999999&_HLS_part=0`);
    assert.equal(r.status, 400);
    assert.equal((await getText(`${base}/index.m3u8?_HLS_msn=1&_HLS_part=-1`)).status, 400);
  });

  it('refuses an unsigned part and a part with another signature', async () => {
    const unsigned = await fetch(`${base}/999.0.m4s`, { method: 'PUT', headers: { 'castnet-duration': '0.3', 'castnet-independent': '1' }, body: new Uint8Array(100) });
    assert.equal(unsigned.status, 401);
    await unsigned.arrayBuffer();
  });
});
