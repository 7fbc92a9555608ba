// Streaming with payments on, with real publishers, transcoder and ledger: every segment is paid for in
// expectation, winners are redeemed, and an unfunded broadcaster gets source only.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'vitest';
import { getText, metric, publish, startNetwork, stopAll, streamPaidSegments, waitFor, type Publisher, type TestNetwork } from './support/network.ts';

describe('payments while streaming', () => {
  let net: TestNetwork | undefined;
  const publishers: Publisher[] = [];

  afterEach(async () => {
    await stopAll(publishers, net);
    net = undefined;
  });

  it('pays for every transcoded segment and redeems every winner: earned = spent = tickets × face value', async () => {
    // Every ticket wins (ticketEv = faceValue), so the ledger's totals are exact, not just in expectation.
    const faceValue = 10_000_000n;
    net = await startNetwork({}, { pricePerPixel: 1n, ticketFaceValue: faceValue, ticketEv: faceValue });
    const { tickets, segments, price, ev } = await streamPaidSegments(net, 'paid', publishers);
    const broadcaster = net.broadcaster.httpUrl;
    // The sender covers each segment's price and overpays by less than one ticket per segment.
    assert.ok(ev >= price, `expected value sent ${ev} covers the price ${price}`);
    assert.ok(ev < price + BigInt(segments) * faceValue, `overpayment under one ticket per segment (${ev - price} over ${segments} segments)`);
    assert.equal(await metric(broadcaster, /^castnet_broadcaster_payments_refused_total/), 0);

    const recipient = net.transcoder.payments.recipient;
    const ledger = net.orchestrator.ledger!;
    assert.equal(ledger.account(recipient).earned, BigInt(tickets) * faceValue);
    assert.equal(ledger.account(net.broadcaster.paymentAddress).spent, BigInt(tickets) * faceValue);
    assert.equal(ledger.account(net.broadcaster.paymentAddress).deposit, 10n ** 18n - BigInt(tickets) * faceValue);
    const nodes = JSON.parse((await getText(`${net.orchestrator.url}/api/nodes`)).text) as Array<{ role: string; earned: string }>;
    assert.equal(nodes.find((n) => n.role === 'transcoder')!.earned, String(BigInt(tickets) * faceValue));
  });

  it('refuses work for an unfunded broadcaster with 402 insufficient_deposit, and the source still plays', async () => {
    net = await startNetwork({}, { pricePerPixel: 1n }, 0n);
    publishers.push(publish(`${net.broadcaster.rtmpUrl}/unfunded`));
    const playbackId = net.broadcaster.keys.resolve('unfunded');
    await waitFor('source segments', async () => ((await getText(`${net!.relay.url}/hls/${playbackId}/source/index.m3u8`)).text.match(/\.ts$/gm) ?? []).length >= 2, 20_000);
    assert.ok((await metric(net.broadcaster.httpUrl, /^castnet_broadcaster_payments_refused_total\{[^}]*reason="insufficient_deposit"/)) >= 1);
    assert.ok((await metric(net.transcoder.url, /^castnet_transcoder_payments_refused_total\{[^}]*reason="insufficient_deposit"/)) >= 1);
    assert.equal(await metric(net.transcoder.url, /^castnet_transcoder_segments_transcoded_total\{[^}]*result="ok"/), 0, 'no CPU spent on unpaid work');
    assert.equal((await getText(`${net.relay.url}/hls/${playbackId}/360p/index.m3u8`)).status, 404);
  });
});
