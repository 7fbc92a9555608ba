// kill -9 of one of two transcoders, each its own OS process, in the middle of a real stream watched in
// Chromium: every segment number stays in every rendition's playlist and playback does not stall for a
// segment's duration. Twice: MPEG-TS renditions transcoded per whole segment, and low latency's CMAF
// renditions transcoded progressively, where the transcoder is killed once some of a segment's parts went
// out: a stand-in continues that segment's parts from where they stopped (a keyframe there), so the
// segment keeps its parts and the player, watching the transcoded rendition itself, goes on.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { launchChromium, samplePlayer, type PlaybackSample } from './support/browser.ts';
import { getText, publish, spawnNode, startNetwork, waitFor, type NodeProcess, type Publisher, type TestNetwork } from './support/network.ts';

const modes = [
  { name: 'MPEG-TS renditions', options: {}, lowLatency: false, maxStallMs: 2_000 },
  // One segment (2 s) at most, as issue 12 asks: the stand-in's first part comes 0.3-0.45 s after the kill.
  { name: 'low latency, renditions transcoded progressively', options: { lowLatency: true, partTarget: 0.334 }, lowLatency: true, maxStallMs: 2_000 },
] as const;

/** The segment being ingested in an LL playlist (the parts after its last complete segment), and how many parts it has. */
function openSegment(playlist: string): { seq: number; parts: number } | null {
  const lines = playlist.split('\n');
  const last = lines.findLastIndex((l) => /^\d+\.m4s$/.test(l));
  if (last < 0) return null;
  const parts = lines.slice(last + 1).filter((l) => l.startsWith('#EXT-X-PART:'));
  return { seq: Number(lines[last]!.split('.')[0]) + 1, parts: parts.length };
}

describe.each(modes)('a transcoder killed mid-stream ($name)', ({ options, lowLatency, maxStallMs }) => {
  let net: TestNetwork;
  const transcoders: NodeProcess[] = [];
  let publisher: Publisher;

  beforeAll(async () => {
    net = await startNetwork(options, {}, 10n ** 18n, { transcoder: false });
    // Each is kept as soon as it runs, so a failed start of the other still leaves it to afterAll.
    await Promise.all([0, 1].map(async () => transcoders.push(await spawnNode('transcoder', ['--http-port', '0', '--orchestrator', net.orchestrator.url, '--data-dir', '', '--encoder', 'libx264']))));
    await waitFor('both transcoders registered', async () => (JSON.parse((await getText(`${net.orchestrator.url}/api/nodes`)).text) as Array<{ role: string }>).filter((n) => n.role === 'transcoder').length === 2);
    publisher = publish(`${net.broadcaster.rtmpUrl}/kill-test`);
  });

  afterAll(async () => {
    await publisher?.stop();
    await Promise.all(transcoders.map((t) => t.kill()));
    await net?.close();
  });

  it('loses no segment number and keeps the player going', async () => {
    const playbackId = net.broadcaster.keys.resolve('kill-test');
    const playlistUrl = `${net.relay.url}/hls/${playbackId}/360p/index.m3u8`;
    await waitFor('three transcoded segments', async () => ((await getText(playlistUrl)).text.match(/^\d+\.(ts|m4s)$/gm) ?? []).length >= 3, 30_000);
    const assignment = JSON.parse((await getText(`${net.orchestrator.url}/api/streams`)).text) as Array<{ transcoders: string[] }>;
    assert.equal(assignment[0]!.transcoders.length, 2, 'the stream uses both transcoders');

    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${net.relay.url}/watch/${playbackId}`);
      if (lowLatency) await page.evaluate(`document.querySelector('castnet-player').setAttribute('src', ${JSON.stringify(playlistUrl)})`);
      await waitFor('playback', async () => (((await page.evaluate(samplePlayer)) as PlaybackSample | null)?.currentTime ?? 0) > 1, 30_000, 100);
      // Not a wait for a condition but a measurement over time: playback is sampled every 100 ms from here to
      // 12 s after the kill (a bounded stretch), to find the longest stall from 1 s before the kill on. A wait
      // that ended earlier belongs to the player's start (its start jump's seek), not to the kill.
      const samples: Array<[number, number]> = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          samples.push([performance.now(), ((await page.evaluate(samplePlayer)) as PlaybackSample).currentTime]);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      sampler.catch(() => {}); // awaited after the kill; a page gone before then fails the test there
      await new Promise((r) => setTimeout(r, 1_000));
      // Low latency: killed while it is answering a segment, some of whose parts went out: the transcoder of
      // the open segment (the broadcaster rotates segments over the assignment's transcoders, seq % 2), once
      // the relay lists 2-4 of its parts.
      let victim = transcoders[0]!;
      let cut: { seq: number; parts: number } | null = null;
      if (lowLatency) {
        cut = await waitFor('the open segment with 2-4 parts out', async () => {
          const open = openSegment((await getText(playlistUrl)).text);
          return open && open.parts >= 2 && open.parts <= 4 ? open : undefined;
        }, 30_000, 20);
        victim = transcoders.find((t) => t.url === assignment[0]!.transcoders[cut!.seq % 2])!;
      }
      await victim.kill('SIGKILL');
      const killedAt = performance.now();
      // The stand-in's parts continue the segment: it is listed with every part once complete (the relay lists
      // none when its parts do not add up). Watched while playback is sampled.
      const kept = cut
        ? waitFor(`segment ${cut.seq} complete`, async () => {
            const { text } = await getText(playlistUrl);
            return text.includes(`\n${cut.seq}.m4s\n`) ? text : undefined;
          }, 10_000, 50)
        : null;
      kept?.catch(() => {}); // awaited below, after the sampling
      await new Promise((r) => setTimeout(r, 12_000));
      sampling = false;
      await sampler;

      // The longest wall-clock stretch in which the video did not advance, among those still going on 1 s
      // before the kill or later (one that began earlier counts whole); and, apart, the longest before that.
      let stall = 0;
      let startStall = 0;
      let since = samples[0]![0];
      for (let i = 1; i < samples.length; i++) {
        const [at, time] = samples[i]!;
        if (time > samples[i - 1]![1] + 0.01) since = at;
        else if (at >= killedAt - 1_000) stall = Math.max(stall, at - since);
        else startStall = Math.max(startStall, at - since);
      }
      if (cut) assert.match(await kept!, new RegExp(`URI="${cut.seq}\\.${cut.parts}\\.m4s"`), `segment ${cut.seq} keeps its parts past the ${cut.parts} that went out before the kill`);
      console.log(`# longest playback stall around the kill: ${stall.toFixed(0)} ms (before it, at the player's start: ${startStall.toFixed(0)} ms)`);
      assert.ok(stall < maxStallMs, `stall ${stall.toFixed(0)} ms is under ${maxStallMs} ms`);
      assert.deepEqual(((await page.evaluate(samplePlayer)) as PlaybackSample).errors, []);
    } finally {
      await browser.close();
    }

    for (const rendition of ['source', '360p']) {
      const playlist = (await getText(`${net.relay.url}/hls/${playbackId}/${rendition}/index.m3u8`)).text;
      assert.doesNotMatch(playlist, /#EXT-X-GAP/, `${rendition}: no segment missing`);
      const seqs = (playlist.match(/^\d+(?=\.(ts|m4s)$)/gm) ?? []).map(Number);
      assert.deepEqual(seqs, seqs.map((_, i) => seqs[0]! + i), `${rendition}: sequence numbers are contiguous`);
    }
  });
});
