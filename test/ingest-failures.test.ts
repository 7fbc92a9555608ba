// How ingest behaves when streamers and nodes misbehave, with real FFmpeg publishers over RTMP and the
// roles in this process: refused keys, garbage on the RTMP port, reconnects, and a transcoder outage.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, it } from 'vitest';
import { followStreams } from '../cli/dev-console.ts';
import { createTranscoder } from '../transcoder/transcoder.ts';
import { getText, metric, publish, startNetwork, stopAll, testLogger, waitFor, within, type Publisher, type TestNetwork } from './support/network.ts';

function rtmpPort(net: TestNetwork): number {
  return Number(new URL(net.broadcaster.rtmpUrl).port);
}

/** The pid of the FFmpeg that cuts `playbackId`'s segments (its output path names the stream). */
function cutterPid(playbackId: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args.some((a) => a.includes('ffmpeg')) && args.some((a) => a.includes(`segments/${playbackId}-`))) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

function segmentSeqs(playlist: string): number[] {
  return playlist.split('\n').filter((l) => l.endsWith('.ts')).map((l) => Number(l.replace('.ts', '')));
}

describe('ingest failures', () => {
  let net: TestNetwork | undefined;
  const publishers: Publisher[] = [];

  afterEach(async () => {
    await stopAll(publishers, net);
    net = undefined;
  });

  it('refuses a publish with an unknown key outside dev mode: the publisher fails, no session opens, the refusal is counted, and a configured key still publishes', async () => {
    net = await startNetwork({ dev: false });
    const { streamKey } = net.broadcaster.keys.add();
    const refused = publish(`${net.broadcaster.rtmpUrl}/not-a-configured-key`, { seconds: 5 });
    publishers.push(refused);
    // Accepted, the 5 s pattern would run for 5 s and exit 0; refused, FFmpeg exits with an error.
    const code = await within('ffmpeg to give up on the refused key', refused.exited, 8_000);
    assert.notEqual(code, 0, 'ffmpeg must fail to publish');
    assert.deepEqual(JSON.parse((await getText(`${net.orchestrator.url}/api/streams`)).text), []);
    assert.equal(await metric(net.broadcaster.httpUrl, /^castnet_broadcaster_publish_refused_total\{.*reason="stream_key"/), 1);

    // The configured key still publishes.
    publishers.push(publish(`${net.broadcaster.rtmpUrl}/${streamKey}`));
    await waitFor('the configured key to go live', async () => (JSON.parse((await getText(`${net!.orchestrator.url}/api/streams`)).text) as unknown[]).length === 1);
  });

  it('refuses takeovers past the per-key publish rate: the refused publisher fails, the refusal is counted, and the live publication keeps publishing', async () => {
    net = await startNetwork({ publishesPerKeyPerMinute: 2 });
    const first = publish(`${net.broadcaster.rtmpUrl}/churned`);
    publishers.push(first);
    const playbackId = net.broadcaster.keys.resolve('churned');
    const playlistUrl = `${net.relay.url}/hls/${playbackId}/source/index.m3u8`;
    await waitFor('the live stream', async () => (await getText(playlistUrl)).status === 200);
    // The second publish takes over (the second of two allowed a minute); the third is refused.
    const takeover = publish(`${net.broadcaster.rtmpUrl}/churned`);
    publishers.push(takeover);
    await waitFor('the takeover to be accepted', async () => (await metric(net!.broadcaster.httpUrl, /^castnet_broadcaster_publishes_total/)) === 2, 10_000);
    const refused = publish(`${net.broadcaster.rtmpUrl}/churned`, { seconds: 5 });
    publishers.push(refused);
    const code = await within('ffmpeg to give up on the rate-limited key', refused.exited, 8_000);
    assert.notEqual(code, 0, 'ffmpeg must fail to publish');
    assert.equal(await metric(net.broadcaster.httpUrl, /^castnet_broadcaster_publish_refused_total\{.*reason="publish_rate"/), 1);
    // The takeover still publishes: new segments keep arriving.
    const before = Math.max(...segmentSeqs((await getText(playlistUrl)).text));
    await waitFor('a newer segment from the takeover', async () => Math.max(...segmentSeqs((await getText(playlistUrl)).text)) > before, 10_000);
  });

  it('closes a connection that sends garbage instead of an RTMP handshake, and the stream already live keeps publishing', async () => {
    net = await startNetwork();
    publishers.push(publish(`${net.broadcaster.rtmpUrl}/live-one`));
    const playbackId = net.broadcaster.keys.resolve('live-one');
    const playlistUrl = `${net.relay.url}/hls/${playbackId}/source/index.m3u8`;
    await waitFor('the live stream', async () => (await getText(playlistUrl)).status === 200);

    const socket = connect(rtmpPort(net), '127.0.0.1', () => socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n' + 'garbage'.repeat(400))));
    socket.on('error', () => {}); // a reset is one way of being closed
    try {
      await within('the broadcaster to close the garbage connection', once(socket, 'close'), 5_000);
    } finally {
      socket.destroy();
    }

    const before = Math.max(...segmentSeqs((await getText(playlistUrl)).text));
    await waitFor('a newer segment after the garbage', async () => Math.max(...segmentSeqs((await getText(playlistUrl)).text)) > before, 10_000);
  });

  it('resumes a reconnecting stream under the same playback id with a discontinuity', async () => {
    net = await startNetwork();
    const first = publish(`${net.broadcaster.rtmpUrl}/reconnecting`);
    publishers.push(first);
    const playbackId = net.broadcaster.keys.resolve('reconnecting');
    const playlistUrl = `${net.relay.url}/hls/${playbackId}/source/index.m3u8`;
    await waitFor('two segments', async () => segmentSeqs((await getText(playlistUrl)).text).length >= 2);
    await first.stop();
    // The publication is over once its last segment is cut and published: the newest number is final.
    await waitFor('the first publication to end and drain', async () => (await metric(net!.broadcaster.httpUrl, /^castnet_broadcaster_active_streams[ {]/)) === 0, 10_000);
    const beforeReconnect = Math.max(...segmentSeqs((await getText(playlistUrl)).text));

    publishers.push(publish(`${net.broadcaster.rtmpUrl}/reconnecting`));
    const playlist = await waitFor('segments after the reconnect', async () => {
      const { text } = await getText(playlistUrl);
      return Math.max(...segmentSeqs(text)) >= beforeReconnect + 2 ? text : undefined;
    });
    assert.equal(net.broadcaster.keys.resolve('reconnecting'), playbackId);
    assert.match(playlist, new RegExp(`#EXT-X-DISCONTINUITY\\n#EXT-X-PROGRAM-DATE-TIME:[^\\n]+\\n#EXTINF:[^\\n]+\\n${beforeReconnect + 1}\\.ts`));
    const seqs = segmentSeqs(playlist);
    assert.deepEqual(seqs, seqs.map((_, i) => seqs[0]! + i), 'sequence numbers continue without a hole or repeat');
    const streams = JSON.parse((await getText(`${net.orchestrator.url}/api/streams`)).text) as Array<{ playbackId: string }>;
    assert.deepEqual(streams.map((s) => s.playbackId), [playbackId]);
  });

  it('continues a stream that comes back after its reconnect grace ran out with higher sequence numbers and a discontinuity, so its playlist moves on', async () => {
    net = await startNetwork({ reconnectGraceMs: 1_000 });
    const first = publish(`${net.broadcaster.rtmpUrl}/late`);
    publishers.push(first);
    const playbackId = net.broadcaster.keys.resolve('late');
    const playlistUrl = `${net.relay.url}/hls/${playbackId}/source/index.m3u8`;
    await waitFor('three segments', async () => segmentSeqs((await getText(playlistUrl)).text).length >= 3);
    await first.stop();
    // Past the grace the stream is closed: the relay's playlist ends, and its window stays until it expires.
    await waitFor('the stream to close at the relay', async () => (await getText(playlistUrl)).text.includes('#EXT-X-ENDLIST'), 15_000);
    const before = Math.max(...segmentSeqs((await getText(playlistUrl)).text));
    publishers.push(publish(`${net.broadcaster.rtmpUrl}/late`));
    // Before, the new publication started again at 0: its segments fell behind the window and the playlist froze.
    const playlist = await waitFor('new segments past the old window', async () => {
      const { text } = await getText(playlistUrl);
      return !text.includes('#EXT-X-ENDLIST') && Math.max(...segmentSeqs(text)) >= before + 2 ? text : undefined;
    }, 30_000);
    assert.match(playlist, /#EXT-X-DISCONTINUITY\n/);
    const seqs = segmentSeqs(playlist);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'sequence numbers only grow');
  });

  it('disconnects the streamer when its segment cutter is killed, so the encoder reconnects into a fresh publication with a discontinuity', async () => {
    net = await startNetwork();
    const first = publish(`${net.broadcaster.rtmpUrl}/cutter-dies`);
    publishers.push(first);
    const playbackId = net.broadcaster.keys.resolve('cutter-dies');
    const playlistUrl = `${net.relay.url}/hls/${playbackId}/source/index.m3u8`;
    await waitFor('two segments', async () => segmentSeqs((await getText(playlistUrl)).text).length >= 2);
    const pid = await waitFor('the cutter process', () => cutterPid(playbackId), 5_000);
    process.kill(pid, 'SIGKILL');
    // Before, the connection stayed open and the playlist froze: the encoder never learned to reconnect.
    await within('the publisher to be disconnected', first.exited, 10_000);
    assert.equal(await metric(net.broadcaster.httpUrl, /^castnet_broadcaster_cutter_died_total[ {]/), 1);
    await waitFor('the publication to end', async () => (await metric(net!.broadcaster.httpUrl, /^castnet_broadcaster_active_streams[ {]/)) === 0, 10_000);
    const beforeReconnect = Math.max(...segmentSeqs((await getText(playlistUrl)).text));
    publishers.push(publish(`${net.broadcaster.rtmpUrl}/cutter-dies`));
    const playlist = await waitFor('segments after the reconnect', async () => {
      const { text } = await getText(playlistUrl);
      return Math.max(...segmentSeqs(text)) >= beforeReconnect + 2 ? text : undefined;
    });
    assert.match(playlist, new RegExp(`#EXT-X-DISCONTINUITY\\n#EXT-X-PROGRAM-DATE-TIME:[^\\n]+\\n#EXTINF:[^\\n]+\\n${beforeReconnect + 1}\\.ts`));
  });

  it('publishes the source while the transcoder is down, counts the failures, and recovers when it returns; castnet dev says so', async () => {
    net = await startNetwork();
    // The lines castnet dev prints, from the same broadcaster events.
    const printed: string[] = [];
    followStreams(net.broadcaster.streams, { watchUrl: (id) => `${net!.relay.url}/watch/${id}`, write: (line) => printed.push(line) });
    const publisher = publish(`${net.broadcaster.rtmpUrl}/outage`);
    publishers.push(publisher);
    const playbackId = net.broadcaster.keys.resolve('outage');
    const hls = `${net.relay.url}/hls/${playbackId}`;
    await waitFor('a transcoded segment', async () => (await getText(`${hls}/360p/index.m3u8`)).status === 200);
    const port = Number(new URL(net.transcoder.url).port);
    await net.transcoder.stop();
    const downAt = Math.max(...segmentSeqs((await getText(`${hls}/source/index.m3u8`)).text));

    await waitFor('the source to keep publishing', async () => Math.max(...segmentSeqs((await getText(`${hls}/source/index.m3u8`)).text)) >= downAt + 2, 15_000);
    assert.ok((await metric(net.broadcaster.httpUrl, /^castnet_broadcaster_transcode_failures_total\{/)) >= 1, 'failures are counted');

    const replacement = await createTranscoder({ httpPort: port, orchestrator: net.orchestrator.url, encoder: 'libx264', dataDir: null }, { logger: testLogger });
    await replacement.start();
    net.transcoder = replacement;
    const playlist = await waitFor('renditions to resume', async () => {
      const { text } = await getText(`${hls}/360p/index.m3u8`);
      const published = text.split('\n').filter((l, i, all) => l.endsWith('.ts') && all[i - 1] !== '#EXT-X-GAP').map((l) => Number(l.replace('.ts', '')));
      return Math.max(...published) > downAt + 2 ? text : undefined;
    }, 30_000);
    assert.match(playlist, /#EXT-X-GAP/, 'segments missed during the outage are marked as gaps, so numbering stays right');

    await publisher.stop();
    await waitFor('the ended line', () => printed.some((l) => l.startsWith(`○ ended  ${playbackId}`)), 15_000);
    const lines = printed.filter((l) => l.includes(playbackId));
    const index = (re: RegExp) => lines.findIndex((l) => re.test(l));
    const live = index(new RegExp(`^● live   ${playbackId} 640x360 30 fps → \\S+  watch: ${net.relay.url}/watch/${playbackId}$`));
    const lost = index(new RegExp(`^! renditions missing for ${playbackId}: (no transcoder could take the segment \\(http://127\\.0\\.0\\.1:${port}: .+\\)|no transcoder is assigned)$`));
    const back = index(new RegExp(`^✓ renditions back for ${playbackId}$`));
    const ended = index(new RegExp(`^○ ended  ${playbackId} \\(waiting for a reconnect\\)$`));
    assert.ok(live >= 0 && live < lost && lost < back && back < ended, lines.join('\n'));
  });
});
