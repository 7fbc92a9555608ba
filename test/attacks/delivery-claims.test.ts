// Attacks on paid delivery (issue 14), over real HTTP against a live network: a relay that claims from the
// payer without receipts, with receipts it made up (a certificate it minted, an "edge" key that is no
// relay), a replayed or misdirected receipt at a relay, a flood of session requests; then the payer stops
// paying, and the relay reports the stream unpaid and (with --refuse-unpaid) refuses its segments with 402.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createRelay, type Relay } from '../../relay/relay.ts';
import { randomIdentity } from '../../protocol/identity.ts';
import { signCertificate, signReceipt, signedCertificateSchema, type SignedReceipt } from '../../protocol/delivery-receipt.ts';
import { claimAnswerSchema, type ClaimAnswer } from '../../protocol/delivery-claim.ts';
import { TicketParamsIssuer, ticketParamsToJson } from '../../protocol/ticket-params.ts';
import { MAX_WIN_PROB } from '../../protocol/ticket.ts';
import { signRequest } from '../../protocol/signed-request.ts';
import { metric, publish, startNetwork, stopAll, testLogger, waitFor, type Publisher, type TestNetwork } from '../support/network.ts';

describe('paid delivery under attack', () => {
  let net: TestNetwork;
  let origin: Relay;
  const publishers: Publisher[] = [];
  let playbackId: string;
  let payerStopped = false;

  beforeAll(async () => {
    net = await startNetwork({ maxPricePerByte: 10n }, {}, 10n ** 18n, { relay: false });
    origin = await createRelay(
      { httpPort: 0, dataDir: null, orchestrator: net.orchestrator.url, allowPrivateNodes: true, pricePerByte: 2n, deliveryTicketFaceValue: 1_000_000n, deliveryTicketEv: 1_000_000n, claimIntervalMs: 500, refuseUnpaid: true },
      { logger: testLogger },
    );
    await origin.start();
    net.relay = origin;
    await waitFor('the relay proved', () => net.orchestrator.nodes.schedulable('relay').length === 1, 15_000, 50);
    const p = publish(`${net.broadcaster.rtmpUrl}/attacked`, { seconds: 12 });
    publishers.push(p);
    playbackId = net.broadcaster.keys.resolve('attacked');
    await waitFor('segments on the origin', async () => ((await (await fetch(`${origin.url}/hls/${playbackId}/source/index.m3u8`)).text()).match(/\.ts$/gm) ?? []).length >= 2, 30_000);
  });

  afterAll(async () => {
    if (payerStopped) net.broadcaster.stop = async () => {};
    await stopAll(publishers, net);
  });

  const rogue = randomIdentity();
  const rogueClaim = async (receipts: SignedReceipt[]): Promise<{ status: number; answer: ClaimAnswer | null }> => {
    const params = new TicketParamsIssuer(rogue.address).issue(net.broadcaster.paymentAddress, { faceValue: 1_000_000n, winProb: MAX_WIN_PROB, pricePerPixel: 2n, ttlMs: 60_000, now: Date.now() });
    const body = new TextEncoder().encode(JSON.stringify({ playbackId, ticketParams: ticketParamsToJson(params), receipts }));
    const res = await fetch(`${net.broadcaster.httpUrl}/delivery/claims`, { method: 'POST', headers: { 'content-type': 'application/json', ...signRequest(rogue, { method: 'POST', path: '/delivery/claims', body, timestamp: Date.now() }) }, body });
    return { status: res.status, answer: res.ok ? claimAnswerSchema.parse(await res.json()) : null };
  };
  const newestSeq = async () => Number(/(\d+)\.ts\s*$/.exec(await (await fetch(`${origin.url}/hls/${playbackId}/source/index.m3u8`)).text())![1]);

  it('pays a relay that claims without receipts, or with receipts it made up, nothing', async () => {
    const none = await rogueClaim([]);
    assert.equal(none.status, 200);
    assert.equal(none.answer!.payment, null);
    // A viewer key and a certificate the rogue minted itself.
    const fake = randomIdentity();
    const minted = signCertificate({ playbackId, sessionKey: fake.address, payer: net.broadcaster.paymentAddress, issuedAt: Date.now() - 5_000, expiresAt: Date.now() + 60_000, byteBudget: 1e9 }, rogue.privateKey);
    const seq = await newestSeq();
    const forged = signReceipt({ session: fake.address, playbackId, relay: rogue.address, bytes: 5_000_000, rendition: 'source', sequence: seq, at: Date.now() }, fake.privateKey, minted);
    // An "edge" receipt from a key that is no registered relay.
    const sybil = randomIdentity();
    const edgeLie = signReceipt({ session: sybil.address, playbackId, relay: rogue.address, bytes: 100_000, rendition: 'source', sequence: seq, at: Date.now() }, sybil.privateKey);
    const made = await rogueClaim([forged, edgeLie]);
    assert.deepEqual(made.answer!.results.map((r) => r.reason), ['bad_certificate', 'not_an_edge']);
    assert.equal(made.answer!.payment, null);
    // A real viewer's receipt names the relay it came from: another relay presenting it is refused.
    const viewer = randomIdentity();
    const cert = signedCertificateSchema.parse(await (await fetch(`${net.broadcaster.httpUrl}/delivery/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ playbackId, sessionKey: viewer.address }) })).json());
    const stolen = signReceipt({ session: viewer.address, playbackId, relay: origin.paymentAddress, bytes: 100_000, rendition: 'source', sequence: seq, at: Date.now() }, viewer.privateKey, cert);
    assert.equal((await rogueClaim([stolen])).answer!.results[0]!.reason, 'wrong_relay');
    assert.equal(net.orchestrator.ledger!.account(rogue.address).earned, 0n);
    assert.ok((await metric(net.broadcaster.httpUrl, /^castnet_broadcaster_delivery_receipts_refused_total\{[^}]*reason="bad_certificate"/)) >= 1);
  });

  it('refuses at the relay a replayed receipt, one naming another relay, and a claim signed by nobody', async () => {
    const viewer = randomIdentity();
    const cert = signedCertificateSchema.parse(await (await fetch(`${net.broadcaster.httpUrl}/delivery/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ playbackId, sessionKey: viewer.address }) })).json());
    const seq = await newestSeq();
    const bytes = (await (await fetch(`${origin.url}/hls/${playbackId}/source/${seq}.ts`)).arrayBuffer()).byteLength;
    const receipt = signReceipt({ session: viewer.address, playbackId, relay: origin.paymentAddress, bytes, rendition: 'source', sequence: seq, at: Date.now() }, viewer.privateKey, cert);
    const post = (r: SignedReceipt) => fetch(`${origin.url}/delivery/${playbackId}/receipts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(r) });
    assert.equal((await post(receipt)).status, 204);
    const replay = await post(receipt);
    assert.equal(replay.status, 400);
    assert.equal(((await replay.json()) as { error: { reason: string } }).error.reason, 'replayed');
    const elsewhere = await post(signReceipt({ ...receipt.receipt, relay: rogue.address, bytes: bytes + 1 }, viewer.privateKey, cert));
    assert.equal(elsewhere.status, 403);
    const unsigned = await fetch(`${net.broadcaster.httpUrl}/delivery/claims`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(unsigned.status, 401);
    // The honest receipt is claimed and paid.
    await waitFor('the receipt paid', () => (origin.earnings.figures(playbackId)?.owedWei ?? 0n) >= BigInt(bytes) * 2n || undefined, 10_000, 50);
  });

  it('answers a flood of session requests with 429 RATE_LIMITED', async () => {
    const answers = await Promise.all(Array.from({ length: 40 }, () => fetch(`${net.broadcaster.httpUrl}/delivery/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ playbackId, sessionKey: randomIdentity().address }) }).then(async (r) => [r.status, await r.text()] as const)));
    const limited = answers.filter(([s]) => s === 429);
    assert.ok(limited.length >= 15, `${limited.length} of 40 limited`);
    assert.match(limited[0]![1], /RATE_LIMITED/);
  });

  it('reports a stream whose payer stopped paying, and refuses its segments with 402 when told to', async () => {
    const viewer = randomIdentity();
    // The flood above emptied this address's bucket: it refills at one session a second.
    const cert = await waitFor('a session once the limit refilled', async () => {
      const res = await fetch(`${net.broadcaster.httpUrl}/delivery/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ playbackId, sessionKey: viewer.address }) });
      return res.ok ? signedCertificateSchema.parse(await res.json()) : undefined;
    }, 10_000, 250);
    const seq = await newestSeq();
    // The payer goes away; the relay still holds the stream and serves it.
    await net.broadcaster.stop();
    payerStopped = true;
    const res = await fetch(`${origin.url}/hls/${playbackId}/source/${seq}.ts`);
    const bytes = (await res.arrayBuffer()).byteLength;
    assert.equal(res.status, 200);
    const receipt = signReceipt({ session: viewer.address, playbackId, relay: origin.paymentAddress, bytes, rendition: 'source', sequence: seq, at: Date.now() }, viewer.privateKey, cert);
    assert.equal((await fetch(`${origin.url}/delivery/${playbackId}/receipts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(receipt) })).status, 204);
    await waitFor('the relay to report the stream unpaid', async () => (await metric(origin.url, /^castnet_relay_unpaid_streams[ {]/)) === 1 || undefined, 15_000, 100);
    const refused = await fetch(`${origin.url}/hls/${playbackId}/source/${seq}.ts`);
    assert.equal(refused.status, 402);
    assert.equal(((await refused.json()) as { error: { reason: string } }).error.reason, 'payer_not_paying');
  });
});
