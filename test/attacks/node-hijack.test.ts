// Attack: fake node registration and URL hijack against a live network while Chromium watches the honest
// stream. From its own process and address the attacker registers unsigned, as the honest transcoder's key,
// with the honest nodes' URLs under its own keys (free and huge), heartbeats for the honest node, replays a
// signed request and floods the registry. Every attempt is refused or contained with a reason, counted in
// /metrics; the honest records are untouched, nothing fake is scheduled, the stream keeps playing with no
// missing sequence number, and no money moves but the honest stream's payments.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startLiveNetwork, type LiveNetwork } from '../support/attack.ts';
import { getText, metric, waitFor } from '../support/network.ts';

interface Listed {
  id: string;
  url: string;
  role: string;
  state: string;
  stateReason: string | null;
  capabilities: { pricePerPixel: string; maxSessions: number };
}

describe('attack: fake nodes and URL hijack', () => {
  let live: LiveNetwork;
  beforeAll(async () => {
    live = await startLiveNetwork();
  });
  afterAll(() => live?.close());

  it('refuses or contains every fake registration, and the honest stream plays on', async () => {
    const { orchestrator, transcoder, relay } = live.net;
    const nodes = async () => JSON.parse((await getText(`${orchestrator.url}/api/nodes`)).text) as Listed[];
    const honest = await nodes();
    const honestTranscoder = honest.find((n) => n.url === transcoder.url)!;
    const honestRelay = honest.find((n) => n.url === relay.url)!;
    const directory = () => orchestrator.nodes.schedulable().map((n) => n.id).sort();
    const scheduledBefore = directory();
    const money = live.accounts();
    const flood = 150;
    // Proof outcomes as the registry decides them: the hijackers never heartbeat, so their records leave the
    // directory after the node timeout (3 s here) and a slow run may not find them listed any more.
    const proofFailures = new Map<string, string>();
    const onProofFailed = (record: { id: string }, reason: string) => proofFailures.set(record.id.toLowerCase(), reason);
    orchestrator.nodes.on('proofFailed', onProofFailed);

    const report = await live.attack('fake-nodes.ts', { orchestrator: orchestrator.url, transcoder: { url: transcoder.url, id: honestTranscoder.id }, relay: { url: relay.url, id: honestRelay.id }, flood });

    assert.deepEqual([report.step('unsigned').status, report.step('unsigned').reason], [401, 'signature_missing']);
    assert.deepEqual([report.step('impersonate').code, report.step('impersonate').reason], ['FORBIDDEN', 'payment_address']);
    assert.deepEqual([report.step('heartbeat-for-honest').code, report.step('heartbeat-for-honest').reason], ['FORBIDDEN', 'not_node_key']);
    assert.deepEqual([report.step('replay').first, report.step('replay').status, report.step('replay').reason], [201, 401, 'signature_replayed']);
    // The hijacking records are taken, and never prove: the key answering at those URLs is the honest one.
    const hijackers = report['hijackers'] as { transcoder: string; relay: string };
    for (const id of [hijackers.transcoder, hijackers.relay]) {
      const reason = await waitFor(`hijacker ${id} to fail its URL proof`, async () => proofFailures.get(id.toLowerCase()), 10_000, 100);
      assert.equal(reason, 'proof_wrong_key');
      const listed = (await nodes()).find((n) => n.id === id);
      if (listed) assert.deepEqual([listed.state, listed.stateReason?.split(':')[0]], ['unproven', 'proof_wrong_key'], 'while still listed, /api/nodes shows why');
    }
    orchestrator.nodes.off('proofFailed', onProofFailed);
    // The flood: a minute's worth of new keys from one source (60, refilled at one a second while the flood
    // runs), the rest refused with the reason.
    const outcomes = report['outcomes'] as Record<string, number>;
    const allowed = 60 + Math.ceil(report['floodSeconds'] as number);
    console.log(`# flood of ${flood} registrations from one source in ${(report['floodSeconds'] as number).toFixed(1)} s: ${JSON.stringify(outcomes)}`);
    assert.ok((outcomes['201'] ?? 0) <= allowed, `at most a minute of new keys from one source (${outcomes['201']} taken, ${allowed} allowed)`);
    assert.ok((outcomes['registration_rate'] ?? 0) + (outcomes['write_rate'] ?? 0) + (outcomes['too_many_nodes_from_source'] ?? 0) >= flood - allowed, 'the rest refused');

    // Counted in /metrics, by reason.
    for (const reason of ['signature_missing', 'payment_address', 'not_node_key', 'signature_replayed', 'registration_rate']) assert.ok((await live.refused(reason)) >= 1, `${reason} counted`);
    assert.ok((await metric(orchestrator.url, /^castnet_orchestrator_url_proofs_total\{[^}]*result="proof_wrong_key"/)) >= 2);

    // The honest records are as they were, and only the honest nodes are scheduled.
    const after = await nodes();
    assert.deepEqual(after.find((n) => n.id === honestTranscoder.id)?.capabilities, honestTranscoder.capabilities);
    assert.deepEqual([after.find((n) => n.id === honestTranscoder.id)?.url, after.find((n) => n.id === honestTranscoder.id)?.state], [transcoder.url, 'active']);
    assert.deepEqual([after.find((n) => n.id === honestRelay.id)?.url, after.find((n) => n.id === honestRelay.id)?.state], [relay.url, 'active']);
    assert.deepEqual(directory(), scheduledBefore, 'nothing fake is scheduled');
    const entry = JSON.parse((await getText(`${orchestrator.url}/api/streams/${live.playbackId}`)).text) as { relay: string; transcoders: string[] };
    assert.deepEqual([entry.relay, entry.transcoders], [relay.url, [transcoder.url]]);

    await live.assertHonestStreamHealthy(2);
    live.assertOnlyHonestMoney(money);
  });
});
