// Attack: server-side request forgery through crafted node URLs, against a live network (with an edge relay
// that finds parents in the directory) while Chromium watches the honest stream. From its own process and
// address the attacker registers `<orchestrator>/metrics#`, a path and userinfo as node URLs; runs a relay
// that proves its URL and then redirects every HLS request to the orchestrator's loopback-only /metrics,
// claims a stream and asks the edge for it as a viewer; answers a URL challenge with a redirect to an honest
// node; and registers a loopback literal and a loopback name at an orchestrator without
// --allow-private-nodes. Nothing is fetched that must not be, no loopback page reaches the viewer, every
// refusal is counted, and the honest stream plays on.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createOrchestrator, type Orchestrator } from '../../orchestrator/orchestrator.ts';
import { createRelay, type Relay } from '../../relay/relay.ts';
import { startLiveNetwork, type LiveNetwork } from '../support/attack.ts';
import { metric, testLogger } from '../support/network.ts';

describe('attack: SSRF through node URLs', () => {
  let live: LiveNetwork;
  let edge: Relay;
  let strict: Orchestrator;
  beforeAll(async () => {
    live = await startLiveNetwork();
    edge = await createRelay({ httpPort: 0, dataDir: null, orchestrator: live.net.orchestrator.url, edge: true, allowPrivateNodes: true }, { logger: testLogger });
    await edge.start();
    strict = await createOrchestrator({ httpPort: 0, dataDir: null, allowPrivateNodes: false }, { logger: testLogger });
    await strict.start();
  });
  afterAll(async () => {
    await edge?.stop();
    await strict?.stop();
    await live?.close();
  });

  it('fetches nothing it must not, and hands no loopback page to a viewer', async () => {
    const { orchestrator, relay } = live.net;
    const money = live.accounts();
    const report = await live.attack('ssrf.ts', { orchestrator: orchestrator.url, strictOrchestrator: strict.url, edge: edge.url, honestRelay: relay.url, loopbackPage: `${orchestrator.url}/metrics` });

    assert.deepEqual([report.step('metrics-fragment').status, report.step('metrics-fragment').reason], [400, 'url_not_origin']);
    assert.deepEqual([report.step('metrics-path').status, report.step('metrics-path').reason], [400, 'url_not_origin']);
    assert.deepEqual([report.step('userinfo').status, report.step('userinfo').reason], [400, 'url_userinfo']);
    for (const reason of ['url_not_origin', 'url_userinfo']) assert.ok((await live.refused(reason)) >= 1, `${reason} counted`);

    // The attacker's relay proved its URL (it is its own), took the bait stream, and redirected the edge.
    assert.equal(report.step('redirecting-relay').state, 'active');
    for (const name of ['viewer-master', 'viewer-segment']) {
      const step = report.step(name);
      assert.notEqual(step.status, 200, `${name}: the edge did not serve what the redirect pointed at`);
      assert.equal(step.leaked, false, `${name}: no loopback page in the answer`);
    }
    assert.ok((await metric(edge.url, /^castnet_relay_outbound_refused_total\{[^}]*reason="redirect"/)) >= 1, 'the refused redirect is counted at the edge');

    // A challenge answered with a redirect to an honest node proves nothing.
    assert.equal(report.step('challenge-redirect').state, 'unproven');
    assert.match(String(report.step('challenge-redirect').stateReason), /^redirect/);
    assert.ok((await metric(orchestrator.url, /^castnet_orchestrator_url_proofs_total\{[^}]*result="redirect"/)) >= 1);

    // Without --allow-private-nodes: a loopback literal is refused at once, a loopback name at its proof.
    assert.deepEqual([report.step('private-literal').code, report.step('private-literal').reason], ['FORBIDDEN', 'private_address']);
    assert.equal(report.step('private-name').state, 'unproven');
    assert.match(String(report.step('private-name').stateReason), /^private_address: .*localhost resolves to/);
    assert.ok((await metric(strict.url, /^castnet_orchestrator_requests_refused_total\{[^}]*reason="private_address"/)) >= 1);
    assert.deepEqual(strict.nodes.schedulable(), []);

    await live.assertHonestStreamHealthy(2);
    live.assertOnlyHonestMoney(money);
  });
});
