// Paid delivery end to end (issue 14): a real network (orchestrator ledger, transcoder, broadcaster paying
// at most 10 wei/byte), a priced origin relay and a priced edge that pulls from it, Chromium viewers on the
// edge and on the origin. Players sign cumulative receipts, relays claim them from the broadcaster, tickets
// are redeemed at the ledger. Tickets win with probability 1 here (ticket EV = face value), so the bound is
// exact: for each relay, paid = credited bytes × price + less than one ticket's face value, and credited
// bytes are exactly what the viewers' last receipts said; the origin is paid for what it delivered to the edge.
// A broadcaster restart (same data directory) loses nobody's money: receipts the relay could not claim while
// the payer was down are paid after it is back, on the sessions it certified before, with no duplicate ticket.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createBroadcaster } from '../broadcaster/broadcaster.ts';
import { createRelay, type Relay } from '../relay/relay.ts';
import { launchChromium, samplePlayer, type PlaybackSample } from './support/browser.ts';
import { metric, publish, startNetwork, stopAll, testLogger, waitFor, type Publisher, type TestNetwork } from './support/network.ts';

const FACE_VALUE = 1_000_000n;
const ORIGIN_PRICE = 2n;
const EDGE_PRICE = 3n;

interface DeliveryState {
  signatures: number;
  signMs: number;
  sessions: number;
  relays: Record<string, { bytes: number; sent: number }>;
}

describe('paid delivery: relays earn per byte, proven by viewers’ receipts', () => {
  let net: TestNetwork;
  let origin: Relay;
  let edge: Relay;
  let browser: Browser;
  const publishers: Publisher[] = [];

  const pricedRelay = async (extra: Parameters<typeof createRelay>[0]) => {
    const r = await createRelay(
      { httpPort: 0, dataDir: null, orchestrator: net.orchestrator.url, allowPrivateNodes: true, deliveryTicketFaceValue: FACE_VALUE, deliveryTicketEv: FACE_VALUE, claimIntervalMs: 1_000, ...extra },
      { logger: testLogger },
    );
    await r.start();
    return r;
  };

  beforeAll(async () => {
    net = await startNetwork({ maxPricePerByte: 10n }, {}, 10n ** 18n, { relay: false });
    origin = await pricedRelay({ pricePerByte: ORIGIN_PRICE });
    net.relay = origin;
    edge = await pricedRelay({ pricePerByte: EDGE_PRICE, edge: true });
    // A relay asking more than the broadcaster pays: never assigned, never listed for the stream.
    await waitFor('the relays proved', () => net.orchestrator.nodes.schedulable('relay').length === 2, 15_000, 50);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await edge?.stop();
    await stopAll(publishers, net);
  });

  it('pays each relay bytes × price for what its viewers received, and the origin for what the edge pulled', async () => {
    const p = publish(`${net.broadcaster.rtmpUrl}/paid`, { seconds: 20 });
    publishers.push(p);
    const playbackId = net.broadcaster.keys.resolve('paid');
    const entry = await waitFor('the stream with its delivery terms in the directory', async () => {
      const res = await fetch(`${net.orchestrator.url}/api/streams/${playbackId}`);
      return res.ok ? ((await res.json()) as { relay: string; delivery: { payer: string; maxPricePerByte: string } | null }) : undefined;
    }, 30_000);
    assert.equal(entry.relay, origin.url);
    assert.equal(entry.delivery?.payer, net.broadcaster.paymentAddress);
    assert.equal(entry.delivery?.maxPricePerByte, '10');
    await waitFor('segments on the origin', async () => ((await (await fetch(`${origin.url}/hls/${playbackId}/source/index.m3u8`)).text()).match(/\.ts$/gm) ?? []).length >= 2, 30_000);

    const pages: Array<{ page: Page; relay: Relay }> = [];
    for (const relay of [edge, edge, origin]) {
      const page = await browser.newPage();
      await page.goto(`${relay.url}/watch/${playbackId}`);
      pages.push({ page, relay });
    }
    for (const { page } of pages) {
      await waitFor('playback', async () => (((await page.evaluate(samplePlayer)) as PlaybackSample | null)?.currentTime ?? 0) > 6, 60_000, 200);
    }
    // The stream ends; the players leave once they have everything: each sends a last receipt per relay, then signs nothing more.
    await p.exited;
    await waitFor('the publication to end and drain', async () => (await metric(net.broadcaster.httpUrl, /^castnet_broadcaster_active_streams[ {]/)) === 0, 30_000);
    const states: DeliveryState[] = [];
    for (const { page } of pages) {
      await page.evaluate(`(() => { const el = document.querySelector('castnet-player'); window.__player = el; el.remove(); })()`);
      states.push(
        await waitFor('the last receipts acknowledged', async () => {
          const s = (await page.evaluate('JSON.parse(JSON.stringify(window.__player.delivery))')) as DeliveryState | null;
          return s && Object.values(s.relays).length > 0 && Object.values(s.relays).every((r) => r.sent === r.bytes && r.bytes > 0) ? s : undefined;
        }, 20_000, 100),
      );
    }
    const viewerBytes = (relay: Relay) => states.reduce((sum, s) => sum + (s.relays[new URL(relay.url).origin]?.bytes ?? 0), 0);
    const edgeViewers = viewerBytes(edge);
    const originViewers = viewerBytes(origin);
    assert.ok(edgeViewers > 0 && originViewers > 0);

    // What the edge pulled from the origin, counted by the edge's own metric.
    const pulledBytes = () => metric(edge.url, /^castnet_relay_upstream_bytes_total\{[^}]*kind="segment"/);
    const pulled = await waitFor('every receipt claimed and paid', async () => {
      const e = edge.earnings.figures(playbackId);
      const o = origin.earnings.figures(playbackId);
      const p = await pulledBytes();
      return (e && o && e.pending === 0 && o.pending === 0 && e.receiptBytes === edgeViewers && o.receiptBytes === originViewers + p && e.paidWei >= e.owedWei && o.paidWei >= o.owedWei && p) || undefined;
    }, 30_000, 200);
    const ledger = net.orchestrator.ledger!;
    for (const [relay, price, credited] of [
      [edge, EDGE_PRICE, edgeViewers],
      [origin, ORIGIN_PRICE, originViewers + pulled],
    ] as const) {
      const f = relay.earnings.figures(playbackId)!;
      assert.equal(f.owedWei, BigInt(credited) * price, 'credited exactly the bytes of the newest receipts, at the relay’s price');
      assert.ok(f.paidWei >= f.owedWei && f.paidWei - f.owedWei < FACE_VALUE, `paid ${f.paidWei} for ${f.owedWei} owed: within one ticket`);
      // Every ticket wins: once redeemed, the ledger moved exactly the expected value paid.
      await waitFor('the winners redeemed at the ledger', () => ledger.account(relay.paymentAddress).earned === f.paidWei || undefined, 20_000, 100);
      // The relay served at least what its viewers signed for (bytes it served that no receipt covers are not paid).
      const served = await metric(relay.url, new RegExp(`^castnet_relay_stream_bytes_served\\{[^}]*playback_id="${playbackId}"`));
      assert.ok(served >= (relay === edge ? edgeViewers : originViewers), `served ${served}`);
      console.log(`# ${relay === edge ? 'edge' : 'origin'}: credited ${credited} bytes (served ${served} to viewers), owed ${f.owedWei} wei, paid ${f.paidWei} wei (EV), earned at the ledger ${ledger.account(relay.paymentAddress).earned}`);
    }
    assert.ok(pulled > 0, 'the edge pulled from the origin and signed receipts for it');
    const perMinute = states.map((s) => s.signatures);
    console.log(`# receipts signed per viewer: ${perMinute.join(', ')}; signing cost ${states.map((s) => (s.signMs / Math.max(1, s.signatures)).toFixed(2)).join(', ')} ms per receipt`);
    assert.equal(await metric(net.broadcaster.httpUrl, /^castnet_broadcaster_delivery_receipts_refused_total\{[^}]*reason="(bad|wrong|forged|over|expired|implausible)/), 0, 'no honest receipt was refused');
    for (const { page } of pages) await page.close();
  });

  it('pays a relay after a broadcaster restart for receipts it held while the payer was down, on sessions certified before, with no duplicate ticket', async () => {
    const p = publish(`${net.broadcaster.rtmpUrl}/paid-restart`, { seconds: 60 });
    publishers.push(p);
    const playbackId = net.broadcaster.keys.resolve('paid-restart');
    await waitFor('segments on the origin', async () => ((await (await fetch(`${origin.url}/hls/${playbackId}/source/index.m3u8`)).text()).match(/\.ts$/gm) ?? []).length >= 2, 30_000);
    const page = await browser.newPage();
    await page.goto(`${origin.url}/watch/${playbackId}`);
    const delivery = async () => (await page.evaluate(`(() => { const el = window.__player ?? document.querySelector('castnet-player'); return el && el.delivery ? JSON.parse(JSON.stringify(el.delivery)) : null; })()`)) as DeliveryState | null;
    const mine = (s: DeliveryState | null) => s?.relays[new URL(origin.url).origin];
    // Some receipts claimed and paid before the restart.
    await waitFor('a receipt acknowledged and claimed', async () => {
      const r = mine(await delivery());
      const f = origin.earnings.figures(playbackId);
      return r && r.sent > 0 && f && f.pending === 0 && f.receiptBytes === r.sent && f.paidWei > 0n ? true : undefined;
    }, 60_000, 200);
    const claimedBefore = origin.earnings.figures(playbackId)!.receiptBytes;
    // Bytes the viewer received that no receipt has named yet: its last one will carry them.
    await waitFor('bytes not yet in a receipt', async () => {
      const r = mine(await delivery());
      return r && r.bytes > r.sent ? true : undefined;
    }, 20_000, 50);

    // The broadcaster goes away (the publisher with it); the viewer leaves meanwhile: its last receipt reaches the relay, which cannot claim it.
    const old = net.broadcaster;
    const httpPort = Number(new URL(old.httpUrl).port);
    await old.stop();
    await p.exited;
    await page.evaluate(`(() => { const el = document.querySelector('castnet-player'); window.__player = el; el.remove(); })()`);
    const last = await waitFor('the last receipt acknowledged by the relay', async () => {
      const r = mine(await delivery());
      return r && r.sent === r.bytes ? r : undefined;
    }, 20_000, 100);
    assert.ok(last.bytes > 0);
    await waitFor('the relay holding a receipt it could not claim', () => (origin.earnings.figures(playbackId)?.pending ?? 0) > 0 || undefined, 10_000, 50);

    // Back on the same data directory and address.
    net.broadcaster = await createBroadcaster({ rtmpPort: 0, httpPort, orchestrator: net.orchestrator.url, dataDir: net.dataDir, dev: true, reconnectGraceMs: 5_000, allowPrivateNodes: true, maxPricePerByte: 10n }, { logger: testLogger });
    await net.broadcaster.start();
    const f = await waitFor('the held receipt claimed and paid', () => {
      const x = origin.earnings.figures(playbackId);
      return x && x.pending === 0 && x.receiptBytes === last.bytes && x.owedWei === BigInt(last.bytes) * ORIGIN_PRICE && x.paidWei >= x.owedWei ? x : undefined;
    }, 30_000, 100);
    assert.ok(f.receiptBytes > claimedBefore, `credited ${f.receiptBytes} bytes after the restart, ${claimedBefore} before`);
    assert.ok(f.paidWei >= f.owedWei && f.paidWei - f.owedWei < FACE_VALUE, `paid ${f.paidWei} for ${f.owedWei} owed: within one ticket`);
    assert.equal(await metric(net.broadcaster.httpUrl, /^castnet_broadcaster_delivery_receipts_refused_total\{[^}]*reason="(bad|wrong|forged|over|expired|implausible)/), 0, 'no receipt of the old run refused');
    // Every ticket, before and after, redeemed: a nonce signed twice would be a duplicate the ledger refuses.
    const ledger = net.orchestrator.ledger!;
    await waitFor('the winners redeemed at the ledger', () => ledger.account(origin.paymentAddress).earned === origin.earnings.figures(playbackId)!.paidWei + earnedElsewhere() || undefined, 20_000, 100);
    await page.close();

    function earnedElsewhere(): bigint {
      // The first case's stream paid this relay too; its figures are its own.
      const first = origin.earnings.figures(net.broadcaster.keys.resolve('paid'));
      return first?.paidWei ?? 0n;
    }
  });
});
