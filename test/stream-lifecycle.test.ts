// A stream's lifecycle end to end, with a real FFmpeg publisher: live while it publishes, ended once its
// publisher stopped and the reconnect grace ran out, its playlists closed with #EXT-X-ENDLIST, out of the
// directory, and its status still answered by the orchestrator.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'vitest';
import type { StreamStatus } from '../protocol/stream-status.ts';
import { getText, publish, startNetwork, stopAll, waitFor, type Publisher, type TestNetwork } from './support/network.ts';
import { startWebhookReceiver } from './support/webhook-receiver.ts';

const status = async (net: TestNetwork, playbackId: string) => JSON.parse((await getText(`${net.orchestrator.url}/api/streams/${playbackId}`)).text) as StreamStatus;

describe('stream lifecycle', () => {
  let net: TestNetwork | undefined;
  const publishers: Publisher[] = [];
  const closing: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await stopAll(publishers, net);
    net = undefined;
    for (const close of closing.splice(0)) await close();
  });

  it("is live with its renditions while published, stays live through a reconnect within the grace, and ends after the grace: ENDLIST, out of the directory, ended in the API, each change a webhook to the stream key's receiver", async () => {
    net = await startNetwork({ reconnectGraceMs: 3_000 });
    const secret = 'whsec_lifecycle-test-secret-00';
    const receiver = await startWebhookReceiver(secret);
    closing.push(() => receiver.close());
    net.broadcaster.keys.add('lifecycle');
    net.broadcaster.keys.update('lifecycle', (k) => {
      k.webhooks = [{ url: receiver.url, secret }];
    });
    const first = publish(`${net.broadcaster.rtmpUrl}/lifecycle`);
    publishers.push(first);
    const playbackId = net.broadcaster.keys.resolve('lifecycle');
    const playlistUrl = `${net.relay.url}/hls/${playbackId}/source/index.m3u8`;
    const live = await waitFor('the stream to be live with renditions', async () => {
      const s = await status(net!, playbackId);
      return s.state === 'live' && s.renditions.length > 1 ? s : undefined;
    });
    assert.ok(live.startedAt && !live.endedAt);
    assert.equal(live.relay, net.relay.url);
    assert.equal(live.recording, null);
    await waitFor('a viewer counted by the relay', async () => {
      await getText(playlistUrl);
      return (await status(net!, playbackId)).viewers >= 1;
    }, 15_000);

    // A reconnect within the grace: the same run, still live, the same start time.
    await first.stop();
    const second = publish(`${net.broadcaster.rtmpUrl}/lifecycle`);
    publishers.push(second);
    await waitFor('segments after the reconnect', async () => (await getText(playlistUrl)).text.includes('#EXT-X-DISCONTINUITY'));
    const resumed = await status(net, playbackId);
    assert.equal(resumed.state, 'live');
    assert.equal(resumed.startedAt, live.startedAt);

    await second.stop();
    await waitFor('ENDLIST after the grace', async () => (await getText(playlistUrl)).text.includes('#EXT-X-ENDLIST'), 20_000);
    const ended = await waitFor('the stream to be ended in the API', async () => {
      const s = await status(net!, playbackId);
      return s.state === 'ended' ? s : undefined;
    }, 10_000);
    assert.equal(ended.startedAt, live.startedAt);
    assert.ok(ended.endedAt && Date.parse(ended.endedAt) > Date.parse(ended.startedAt!));
    assert.equal(ended.viewers, 0);
    assert.equal(ended.playbackUrl, undefined);
    assert.deepEqual(ended.renditions, live.renditions);
    const directory = JSON.parse((await getText(`${net.orchestrator.url}/api/streams`)).text) as Array<{ playbackId: string }>;
    assert.deepEqual(directory, []);
    // One run, one start and one end, however many publications it had.
    await waitFor('stream.ended at the receiver', () => receiver.events().some((e) => e.type === 'stream.ended'), 10_000);
    assert.deepEqual(receiver.events().map((e) => [e.type, e.playbackId]), [['stream.started', playbackId], ['stream.ended', playbackId]]);
    assert.equal(receiver.events()[0]!.data.startedAt, live.startedAt);
    assert.equal(receiver.events()[1]!.data.endedAt, ended.endedAt);
  });
});
