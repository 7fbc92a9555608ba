// Attack: fake transcoder output of every kind, against a live network while Chromium watches the honest
// stream. The attacker's process runs six real transcoders (registered, URL proven, paid in tickets) that
// answer with other content, black frames, a solid colour, a frozen frame, another moment of the stream,
// and absurdly low quality, each at the right resolution and duration. A second stream is published; its
// sessions move from fake to fake as each is caught. Every answer from a fake is compared with the source
// before anything of it is published, and fails (the other-moment fake answers its first segment honestly;
// its later answers start at another timestamp and are refused by the cheap check on every segment), each
// fake is reported and the orchestrator counts it, and the honest stream plays on. Twice: MPEG-TS renditions
// transcoded per whole segment, and low latency, where the fakes answer progressive transcodes (black and
// absurdly low quality, streamed on time fragment by fragment): a transcoder's parts go out
// before its segment is checked only once it passed its first verified segments, so no fake's part reaches
// the relay either.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startLiveNetwork, type LiveNetwork } from '../support/attack.ts';
import { getText, metric, publish, waitFor, type Publisher } from '../support/network.ts';

const modes = [
  { name: 'MPEG-TS renditions', lowLatency: false },
  { name: 'low latency, renditions transcoded progressively', lowLatency: true },
] as const;

describe.each(modes)('attack: fake transcoder output ($name)', ({ lowLatency }) => {
  let live: LiveNetwork;
  let attacked: Publisher | undefined;
  beforeAll(async () => {
    live = await startLiveNetwork(lowLatency ? { broadcaster: { lowLatency: true, partTarget: 0.334 } } : {});
  });
  afterAll(async () => {
    await attacked?.stop();
    await live?.close();
  });

  it('publishes no fake rendition: each is compared with the source, fails, and its node is reported', async () => {
    const { orchestrator, broadcaster } = live.net;
    const fakes = await live.attackServer('fake-transcoders.ts', { orchestrator: orchestrator.url, live: lowLatency });
    const urls = fakes.info.listening as string[];
    const kinds = fakes.info.kinds as string[];
    const kindOf = new Map(urls.map((u, i) => [u, kinds[i]!]));
    await waitFor('the fake transcoders to be scheduled', () => urls.every((u) => orchestrator.nodes.schedulable('transcoder').some((n) => n.url === u)), 30_000, 200);

    const verified: Array<{ seq: number; transcoder: string; passed: boolean }> = [];
    const transcoded: Array<{ seq: number; transcoder: string }> = [];
    const rejected: Array<{ seq: number; transcoder: string }> = [];
    const parts = new Set<number>();
    broadcaster.streams.on('opened', ({ pipeline }) => {
      pipeline.on('partPublished', (e) => {
        if (e.rendition !== 'source') parts.add(e.seq);
      });
      pipeline.on('outputRejected', (e) => rejected.push(e));
      pipeline.on('outputVerified', (e) => verified.push(e));
      pipeline.on('transcoded', (e) => transcoded.push(e));
    });
    attacked = publish(`${broadcaster.rtmpUrl}/attacked-stream`);
    // Caught: failed verification, or (the other-moment fake, whose renditions keep their own timestamps) refused by the cheap check.
    const caught = () => new Set([...verified.filter((v) => !v.passed), ...rejected].map((v) => v.transcoder).filter((t) => kindOf.has(t)));
    // The scheduler may never give the last fake a segment (the honest transcoder, once assigned, keeps the
    // stream): after 90 s, all fakes but one caught, and every fake that answered caught, is enough.
    const answered = () => new Set(transcoded.map((t) => t.transcoder).filter((t) => kindOf.has(t)));
    const startedAt = Date.now();
    const allCaught = () => caught().size === urls.length || (Date.now() - startedAt > 90_000 && caught().size >= urls.length - 1 && [...answered()].every((t) => caught().has(t)));
    await waitFor('every fake to be caught', allCaught, 180_000, 500).catch((err: Error) => {
      throw new Error(`${err.message}: caught ${[...caught()].map((u) => kindOf.get(u)).join(', ')}; verified ${JSON.stringify(verified.map((v) => [v.seq, kindOf.get(v.transcoder) ?? 'honest', v.passed]))}; transcoded ${JSON.stringify(transcoded.map((t) => [t.seq, kindOf.get(t.transcoder) ?? 'honest']))}`);
    });

    const byFake = transcoded.filter((t) => kindOf.has(t.transcoder));
    const checked = verified.filter((v) => kindOf.has(v.transcoder));
    // Every answer from a fake was refused by the cheap checks (no rendition of it published) or compared with
    // the source (an answer that just came in is given a moment for its comparison).
    const uncheckedNow = () => transcoded.filter((t) => kindOf.has(t.transcoder) && !verified.some((v) => v.seq === t.seq && v.transcoder === t.transcoder) && !rejected.some((r) => r.seq === t.seq && r.transcoder === t.transcoder));
    await waitFor('every fake answer checked', () => uncheckedNow().length === 0, 15_000, 200).catch(() => undefined);
    const unchecked = uncheckedNow();
    assert.deepEqual(unchecked.map((t) => [t.seq, kindOf.get(t.transcoder)]), [], 'no answer from a fake went unchecked');
    // Parts of a rendition go out from trusted transcoders only: none of a segment any fake answered.
    assert.deepEqual(byFake.filter((t) => parts.has(t.seq)).map((t) => [t.seq, kindOf.get(t.transcoder)]), [], 'no fake answered a segment whose rendition parts went out');
    if (lowLatency) await waitFor('the honest transcoder\'s parts of the attacked stream', () => parts.size > 0, 60_000, 250);
    for (const v of checked.filter((x) => x.passed)) {
      assert.equal(kindOf.get(v.transcoder), 'another-time', `only the other-moment fake passed, on its first (honest) answer: ${JSON.stringify(v)}`);
      assert.equal(checked.filter((x) => x.transcoder === v.transcoder && x.passed).length, 1);
    }
    // The metric counts every failed comparison seen (how many fakes the cheap check caught first varies with timing).
    const failedChecks = checked.filter((v) => !v.passed).length;
    assert.ok(failedChecks >= 1, 'fakes were caught by comparison with the source');
    assert.ok((await metric(broadcaster.httpUrl, /^castnet_broadcaster_output_verifications_total\{[^}]*result="failed"/)) >= failedChecks, 'the broadcaster counts each failed comparison');
    assert.ok((await metric(orchestrator.url, /^castnet_orchestrator_failure_reports_total\{(?=[^}]*reason="verification_failed")(?=[^}]*counted="yes")/)) >= 1, 'the reports counted');
    // The broadcaster's failure reports reach the orchestrator on their own schedule: wait (bounded) for each score to drop.
    const scores = async () => JSON.parse((await getText(`${orchestrator.url}/api/nodes`)).text) as Array<{ url: string; score: number }>;
    await waitFor('every fake\'s score to drop', async () => {
      const listed = await scores();
      return [...caught()].every((url) => (listed.find((n) => n.url === url)?.score ?? 1) < 1);
    }, 20_000, 250).catch(() => undefined);
    const listed = await scores();
    for (const url of caught()) assert.ok(listed.find((n) => n.url === url)!.score < 1, `${kindOf.get(url)}: its score dropped`);
    const report = await fakes.stop();
    const served = Object.keys(report.served as object);
    assert.ok(served.length >= kinds.length - 1, `every kind of fake answered but at most one: ${served.join(', ')}`);
    for (const url of caught()) assert.ok(served.includes(kindOf.get(url)!), `${kindOf.get(url)} answered`);

    await live.assertHonestStreamHealthy(2);
  });
});
