// kill -9 of the relay a viewer watches, with relays as their own OS processes: the broadcaster moves the
// stream to the other relay, and the player in Chromium asks the orchestrator for a relay holding the
// stream, switches, and keeps playing.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { launchChromium, samplePlayer, type PlaybackSample } from './support/browser.ts';
import { getText, publish, spawnNode, startNetwork, waitFor, type NodeProcess, type Publisher, type TestNetwork } from './support/network.ts';

describe('the viewer’s relay killed mid-stream', () => {
  let net: TestNetwork;
  const relays: NodeProcess[] = [];
  let publisher: Publisher;

  beforeAll(async () => {
    net = await startNetwork({}, {}, 10n ** 18n, { relay: false });
    for (let i = 0; i < 2; i++) relays.push(await spawnNode('relay', ['--allow-private-nodes', '--http-port', '0', '--orchestrator', net.orchestrator.url, '--data-dir', '']));
    await waitFor('both relays registered', async () => (JSON.parse((await getText(`${net.orchestrator.url}/api/nodes`)).text) as Array<{ role: string }>).filter((n) => n.role === 'relay').length === 2);
    publisher = publish(`${net.broadcaster.rtmpUrl}/failover`);
  });

  afterAll(async () => {
    await publisher?.stop();
    await Promise.all(relays.map((r) => r.kill()));
    await net?.close();
  });

  it('switches the player to another relay holding the stream, and playback goes on', async () => {
    const playbackId = net.broadcaster.keys.resolve('failover');
    const streams = await waitFor('the stream in the directory', async () => (JSON.parse((await getText(`${net.orchestrator.url}/api/streams`)).text) as Array<{ playbackId: string; relay: string }>).find((s) => s.playbackId === playbackId));
    const origin = relays.find((r) => r.url === streams.relay)!;
    const other = relays.find((r) => r !== origin)!;
    await waitFor('segments on the origin relay', async () => ((await getText(`${origin.url}/hls/${playbackId}/source/index.m3u8`)).text.match(/\.ts$/gm) ?? []).length >= 3, 30_000);

    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${origin.url}/watch/${playbackId}`);
      await waitFor('playback on the origin relay', async () => (((await page.evaluate(samplePlayer)) as PlaybackSample | null)?.currentTime ?? 0) > 1, 30_000, 100);
      await origin.kill('SIGKILL');
      const killedAt = performance.now();
      const atKill = ((await page.evaluate(samplePlayer)) as PlaybackSample).currentTime;

      const moved = await waitFor('the player to switch relays', async () => {
        const relay = (await page.evaluate('document.querySelector("castnet-player").relay')) as string;
        return relay === other.url ? relay : undefined;
      }, 20_000, 100);
      assert.equal(moved, other.url);
      const switchedAt = performance.now();
      const resumed = await waitFor('playback to go on past the kill', async () => {
        const s = (await page.evaluate(samplePlayer)) as PlaybackSample;
        return s.currentTime > atKill + 4 ? s : undefined;
      }, 30_000, 100);
      console.log(`# relay killed → player on the other relay in ${(switchedAt - killedAt).toFixed(0)} ms; played ${(resumed.currentTime - atKill).toFixed(1)} s more`);
      const failovers = (await page.evaluate('document.querySelector("castnet-player").failovers')) as Array<{ from: string; to: string }>;
      assert.equal(failovers.at(-1)!.to, other.url);
      assert.equal(resumed.mediaError, null);
    } finally {
      await browser.close();
    }
  });
});
