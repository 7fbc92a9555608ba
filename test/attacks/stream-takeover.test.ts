// Attack: stream takeover through sessions and failure reports, against a live network while Chromium
// watches the honest stream. From its own process and key the attacker opens the honest playback id
// avoiding its nodes, closes it, tries both unsigned, then opens streams of its own and reports the honest
// nodes as failing, every reason, as fast as it may. The session stays its owner's (FORBIDDEN
// stream_owned, counted), the reports weigh nothing (an unfunded key's, and about nodes its streams may not
// even use), the honest nodes keep their score, and the stream plays on with no missing sequence number.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startLiveNetwork, type LiveNetwork } from '../support/attack.ts';
import { getText, metric } from '../support/network.ts';

describe('attack: stream takeover', () => {
  let live: LiveNetwork;
  beforeAll(async () => {
    live = await startLiveNetwork();
  });
  afterAll(() => live?.close());

  it('keeps the session with its owner and ignores the attacker\'s failure reports', async () => {
    const { orchestrator, transcoder, relay, broadcaster } = live.net;
    const money = live.accounts();
    const report = await live.attack('stream-takeover.ts', { orchestrator: orchestrator.url, playbackId: live.playbackId, transcoder: transcoder.url, relay: relay.url, rounds: 40 });

    for (const name of ['takeover', 'close']) assert.deepEqual([report.step(name).code, report.step(name).reason], ['FORBIDDEN', 'stream_owned'], name);
    for (const name of ['unsigned', 'unsigned-close']) assert.deepEqual([report.step(name).status, report.step(name).reason], [401, 'signature_missing'], name);
    assert.ok((await live.refused('stream_owned')) >= 2);
    assert.ok((await live.refused('signature_missing')) >= 2);
    assert.ok((await metric(orchestrator.url, /^castnet_orchestrator_failure_reports_total\{[^}]*counted="(reporter_unfunded|not_assigned)"/)) >= 40, 'every report counted as ignored');
    assert.equal(await metric(orchestrator.url, /^castnet_orchestrator_failure_reports_total\{[^}]*counted="yes"/), 0);

    // The stream is still its owner's, on its nodes, and they are in good standing.
    assert.equal(orchestrator.nodes.schedulable().length, 2);
    const entry = JSON.parse((await getText(`${orchestrator.url}/api/streams/${live.playbackId}`)).text) as { relay: string; transcoders: string[] };
    assert.deepEqual([entry.relay, entry.transcoders], [relay.url, [transcoder.url]]);
    const listed = JSON.parse((await getText(`${orchestrator.url}/api/nodes`)).text) as Array<{ url: string; score: number; state: string; recentFailures: number }>;
    for (const url of [relay.url, transcoder.url]) {
      const n = listed.find((l) => l.url === url)!;
      assert.deepEqual([n.state, n.score, n.recentFailures], ['active', 1, 0], url);
    }
    assert.equal(orchestrator.reputation.bans().length, 0);
    assert.equal((await getText(`${orchestrator.url}/api/streams`)).text.includes(broadcaster.paymentAddress), false, 'the directory shows no key');

    await live.assertHonestStreamHealthy(2);
    live.assertOnlyHonestMoney(money);
  });
});
