// Attack: content injection, at the origin relay and through a malicious parent relay, against a live
// network while Chromium watches the honest stream. From its own process and key the attacker pushes
// segments unsigned, signed by itself, replacing a published one, moved from another sequence number, at a
// far-future sequence number and from another time, and the descriptor and end of the stream; each is
// refused with its reason and counted, and the published bytes stay the publisher's. Then an edge relay
// whose first parent is the attacker's (it relays the honest playlists and forges every segment) serves a
// second Chromium viewer: the edge refuses each forgery, takes the segment from the honest origin, and the
// viewer verifies every segment it plays against the directory's publisher key, with nothing refused.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createRelay, type Relay } from '../../relay/relay.ts';
import { startLiveNetwork, type LiveNetwork } from '../support/attack.ts';
import { getText, metric, testLogger, waitFor } from '../support/network.ts';

const refusedAt = (url: string, from: string, reason: string) => metric(url, new RegExp(`^castnet_relay_content_refused_total\\{from="${from}",reason="${reason}"`));

describe('attack: content injection', () => {
  let live: LiveNetwork;
  let edge: Relay | undefined;
  beforeAll(async () => {
    live = await startLiveNetwork();
  });
  afterAll(async () => {
    await edge?.stop();
    await live?.close();
  });

  it("refuses every push that is not the publisher's at the origin, with its reason, and the stream plays on", async () => {
    const { relay } = live.net;
    const money = live.accounts();
    const report = await live.attack('content-injection.ts', { relay: relay.url, playbackId: live.playbackId });
    const expected: Record<string, [number, string]> = {
      unsigned: [401, 'unsigned'],
      'own-key': [401, 'wrong_signer'],
      replace: [401, 'wrong_signer'],
      moved: [401, 'wrong_signer'],
      'far-future-unsigned': [401, 'unsigned'],
      'far-future-signed': [401, 'wrong_signer'],
      'another-time': [400, 'out_of_window'],
      'descriptor-unsigned': [401, 'signature_missing'],
      'descriptor-own-key': [401, 'wrong_signer'],
      'end-own-key': [401, 'wrong_signer'],
    };
    for (const [name, [status, reason]] of Object.entries(expected)) assert.deepEqual([report.step(name).status, report.step(name).reason], [status, reason], name);
    assert.equal(report.unchanged, true, 'the published segment is still the publisher\'s bytes');
    for (const reason of ['unsigned', 'wrong_signer', 'out_of_window', 'signature_missing']) assert.ok((await refusedAt(relay.url, 'push', reason)) >= 1, `${reason} counted`);
    const playlist = (await getText(`${relay.url}/hls/${live.playbackId}/source/index.m3u8`)).text;
    assert.doesNotMatch(playlist, /999999999999|ENDLIST/);
    assert.match(playlist, /#EXT-X-TARGETDURATION:[1-9]\n/);
    await live.assertHonestStreamHealthy(2);
    live.assertOnlyHonestMoney(money);
  });

  it("serves through an edge only what the publisher signed when the edge's first parent forges every segment", async () => {
    const { relay, orchestrator } = live.net;
    const forger = await live.attackServer('forging-parent.ts', { origin: relay.url });
    const parent = String(forger.info.listening);
    edge = await createRelay({ httpPort: 0, dataDir: null, orchestrator: orchestrator.url, edge: true, parents: [parent], allowPrivateNodes: true }, { logger: testLogger });
    await edge.start();
    const viewer = await live.watch(`${edge.url}/watch/${live.playbackId}`);
    const first = await viewer.sample();
    await waitFor('the edge viewer to advance 3 s', async () => (await viewer.sample()).currentTime > first.currentTime + 3, 30_000, 200);
    const report = await forger.stop();
    const seen = await viewer.sample();

    assert.ok(Number(report.segments) >= 1, 'the forger was asked for segments');
    const refused = (await Promise.all(['wrong_signer', 'unsigned'].map((r) => refusedAt(edge!.url, 'parent', r)))).reduce((a, b) => a + b, 0);
    assert.ok(refused >= 1, `the edge refused the forgeries (${JSON.stringify(report.forged)})`);
    assert.deepEqual(seen.errors, []);
    assert.equal(seen.verification?.publisherSource, 'directory');
    assert.deepEqual(seen.verification?.refusals, [], 'the viewer was never handed a forged segment');
    assert.ok((seen.verification?.verified ?? 0) >= 2);
    assert.equal(await viewer.page.evaluate(`document.querySelector('castnet-player').relay`), new URL(edge.url).origin, 'the viewer stayed on the edge');
    // Every segment the edge serves is the origin's, byte for byte.
    const listed = (await getText(`${edge.url}/hls/${live.playbackId}/source/index.m3u8`)).text.match(/^\d+\.ts$/gm) ?? [];
    for (const name of listed.slice(-3)) {
      const [a, b] = await Promise.all([edge.url, relay.url].map(async (u) => Buffer.from(await (await fetch(`${u}/hls/${live.playbackId}/source/${name}`)).arrayBuffer())));
      assert.ok(a!.equals(b!), `${name} served by the edge is the origin's`);
    }
    await live.assertHonestStreamHealthy(1);
  });
});
