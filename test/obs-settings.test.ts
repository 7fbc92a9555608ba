// Streams as a real streamer's encoder sends them, through a whole in-process network: OBS's default x264
// settings (keyframes every 250 frames, B-frames), which make 8.3 s segments, and a High 4:4:4 source that
// browsers cannot play. FFmpeg is the RTMP client; playlists and segments are read from the relay.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { ffprobe } from '../media/ffprobe.ts';
import type { StreamDirectoryEntry } from '../protocol/stream-record.ts';
import { getText, publish, startNetwork, waitFor, type TestNetwork } from './support/network.ts';

interface Listed {
  targetDuration: number;
  entries: Array<{ seq: number; duration: number; gap: boolean }>;
}

function parsePlaylist(text: string): Listed {
  const targetDuration = Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(text)?.[1]);
  const entries = [...text.matchAll(/#EXTINF:([\d.]+),\n(#EXT-X-GAP\n)?(\d+)\.ts/g)].map((m) => ({ seq: Number(m[3]), duration: Number(m[1]), gap: m[2] !== undefined }));
  return { targetDuration, entries };
}

/** Publishes until FFmpeg exits and the broadcaster has every segment through (its reconnect grace begins). */
async function publishToEnd(net: TestNetwork, key: string, options: Parameters<typeof publish>[1]): Promise<{ playbackId: string; segments: number; during: Promise<StreamDirectoryEntry> }> {
  const playbackId = net.broadcaster.keys.resolve(key);
  let segments: number | undefined;
  net.broadcaster.streams.on('waiting', (e) => {
    if (e.playbackId === playbackId) segments = net.broadcaster.pipelines.get(playbackId)?.segmentsPublished;
  });
  const publisher = publish(`${net.broadcaster.rtmpUrl}/${key}`, options);
  // Read while the stream is live: the directory entry with the stream's warnings.
  const during = waitFor(
    'a warning in /api/streams/<id>',
    async () => {
      const { status, text } = await getText(`${net.orchestrator.url}/api/streams/${playbackId}`);
      const entry = status === 200 ? (JSON.parse(text) as StreamDirectoryEntry) : undefined;
      return entry && entry.warnings.length > 0 ? entry : undefined;
    },
    60_000,
  );
  during.catch(() => undefined);
  assert.equal(await publisher.exited, 0, publisher.stderr());
  return { playbackId, segments: await waitFor('the broadcaster to finish the stream', () => segments, 120_000), during };
}

describe("OBS's default x264 settings (keyint 250, B-frames)", () => {
  let net: TestNetwork;
  let playbackId: string;
  let segments: number;
  let during: Promise<StreamDirectoryEntry>;

  beforeAll(async () => {
    net = await startNetwork();
    ({ playbackId, segments, during } = await publishToEnd(net, 'obs-defaults', { width: 854, height: 480, seconds: 20, keyint: 250, bFrames: 2 }));
  });

  afterAll(async () => {
    await net?.close();
  });

  it('cuts segments at the source keyframes and transcodes every rendition of every one', async () => {
    assert.ok(segments >= 3, `${segments} segments`);
    const master = (await getText(`${net.relay.url}/hls/${playbackId}/master.m3u8`)).text;
    assert.deepEqual([...master.matchAll(/^(\w+)\/index\.m3u8$/gm)].map((m) => m[1]), ['source', '480p', '360p']);
    for (const rendition of ['source', '480p', '360p']) {
      const listed = parsePlaylist((await getText(`${net.relay.url}/hls/${playbackId}/${rendition}/index.m3u8`)).text);
      assert.deepEqual(listed.entries.map((e) => e.seq), [...Array(segments).keys()], `${rendition} lists every sequence`);
      assert.deepEqual(listed.entries.filter((e) => e.gap).map((e) => e.seq), [], `${rendition} has no gap`);
      // 250 frames at 30 fps: every segment but the last is one keyframe interval long.
      for (const e of listed.entries.slice(0, -1)) assert.ok(Math.abs(e.duration - 250 / 30) < 0.1, `${rendition} segment ${e.seq} lasts ${e.duration} s`);
      for (const e of listed.entries) assert.ok(Math.round(e.duration) <= listed.targetDuration, `EXTINF ${e.duration} fits TARGETDURATION ${listed.targetDuration}`);
      console.log(`# ${rendition}: TARGETDURATION ${listed.targetDuration}, EXTINF ${listed.entries.map((e) => e.duration).join(' ')}`);
    }
  });

  it('tells the streamer what to set, in /api/streams/<id>', async () => {
    const entry = await during;
    const warning = entry.warnings.find((w) => w.code === 'long_keyframe_interval');
    assert.ok(warning, JSON.stringify(entry.warnings));
    assert.match(warning.message, /every 8\.[34] s/);
    assert.match(warning.message, /Custom Encoder Settings: keyint=60/);
    assert.match(warning.message, /Keyframe Interval: 2 s/);
    const listed = JSON.parse((await getText(`${net.orchestrator.url}/api/streams`)).text) as StreamDirectoryEntry[];
    assert.deepEqual(listed.find((s) => s.playbackId === playbackId)?.warnings.map((w) => w.code), ['long_keyframe_interval']);
  });
});

describe('a High 4:4:4 source', () => {
  let net: TestNetwork;
  let playbackId: string;
  let during: Promise<StreamDirectoryEntry>;
  const dir = mkdtempSync(join(tmpdir(), 'castnet-444-'));

  beforeAll(async () => {
    net = await startNetwork();
    ({ playbackId, during } = await publishToEnd(net, 'high-444', { width: 426, height: 240, seconds: 7, pixFmt: 'yuv444p', profile: 'high444' }));
  });

  afterAll(async () => {
    await net?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is not advertised; a full-resolution 4:2:0 transcode takes its place and plays', async () => {
    const master = (await getText(`${net.relay.url}/hls/${playbackId}/master.m3u8`)).text;
    assert.deepEqual([...master.matchAll(/^(\w+)\/index\.m3u8$/gm)].map((m) => m[1]), ['240p']);
    assert.doesNotMatch(master, /avc1\.f4/);
    assert.match(master, /RESOLUTION=426x240,CODECS="avc1\.64/);
    const listed = parsePlaylist((await getText(`${net.relay.url}/hls/${playbackId}/240p/index.m3u8`)).text);
    assert.ok(listed.entries.length >= 3 && listed.entries.every((e) => !e.gap), JSON.stringify(listed.entries));
    const segment = await fetch(`${net.relay.url}/hls/${playbackId}/240p/${listed.entries[0]!.seq}.ts`);
    assert.equal(segment.status, 200);
    const file = join(dir, 'first.ts');
    writeFileSync(file, Buffer.from(await segment.arrayBuffer()));
    const probed = await ffprobe(file);
    assert.deepEqual([probed.width, probed.height, probed.pixFmt, probed.profileIdc], [426, 240, 'yuv420p', 100]);
  });

  it('says why in /api/streams/<id>', async () => {
    const entry = await during;
    assert.deepEqual(entry.renditions.map((r) => r.name), ['240p']);
    const warning = entry.warnings.find((w) => w.code === 'source_not_playable');
    assert.ok(warning, JSON.stringify(entry.warnings));
    assert.match(warning.message, /High 4:4:4 Predictive profile, 4:4:4 chroma/);
    assert.match(warning.message, /the 240p transcode/);
  });
});
