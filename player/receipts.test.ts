// The player's receipts against a real delivery payer (broadcaster/delivery-payer.ts), its HTTP replaced by
// a function that hands each request to the payer or captures what a relay would receive; and against a
// real priced relay over HTTP: a receipt signed at an interval rides on the next segment request to its
// relay and the relay's answer header is read back; one no segment request took, or one the relay did not
// answer, is POSTed at the next interval; the last one goes out on leaving (there the stream's payer is a
// small HTTP server that certifies session keys with the protocol's signCertificate).

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { DeliveryPayer } from '../broadcaster/delivery-payer.ts';
import { randomIdentity } from '../protocol/identity.ts';
import { RECEIPT_PARAM, signCertificate, signedReceiptSchema, type SignedReceipt } from '../protocol/delivery-receipt.ts';
import { TicketParamsIssuer } from '../protocol/ticket-params.ts';
import { MAX_WIN_PROB } from '../protocol/ticket.ts';
import { DeliveryReceipts } from './receipts.ts';
import { createServer, type Server } from 'node:http';
import type { Relay } from '../relay/relay.ts';
import { startPricedRelay } from '../test/support/priced-relay.ts';

const RELAY = 'http://relay.test';

function world() {
  const payerId = randomIdentity();
  const payer = new DeliveryPayer({ identity: payerId, maxPricePerByte: 10n, maxFaceValue: 10n ** 18n, sessionTtlMs: 600_000, sessionBytes: 10_000_000 });
  payer.open('ll');
  for (const seq of [0, 1]) payer.published('ll', 'source', seq, 50_000, 2);
  const relay = randomIdentity();
  const received: SignedReceipt[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    if (url === 'http://payer.test/delivery/sessions') {
      const { playbackId, sessionKey } = JSON.parse(String(init?.body)) as { playbackId: string; sessionKey: string };
      return json(payer.issueSession(playbackId, sessionKey));
    }
    if (url === `${RELAY}/delivery/ll`) return json({ relay: relay.address, pricePerByte: '2' });
    if (url === `${RELAY}/delivery/ll/receipts`) {
      received.push(signedReceiptSchema.parse(JSON.parse(String(init?.body))));
      return new Response(null, { status: 204 });
    }
    return new Response('not here', { status: 404 });
  }) as typeof globalThis.fetch;
  const receipts = new DeliveryReceipts({ playbackId: 'll', terms: Promise.resolve({ payer: payerId.address, url: 'http://payer.test', maxPricePerByte: '10' }), fetch, intervalMs: 3_600_000 });
  const params = new TicketParamsIssuer(relay.address).issue(payerId.address, { faceValue: 1_000n, winProb: MAX_WIN_PROB, pricePerPixel: 2n, ttlMs: 600_000, now: Date.now() });
  return { payer, relay, receipts, received, params };
}

/** The terms resolve on a later turn: receipts count only once they have. */
async function enabled(receipts: DeliveryReceipts): Promise<void> {
  for (let i = 0; i < 100 && !receipts.state.enabled; i++) await new Promise((r) => setImmediate(r));
  assert.ok(receipts.state.enabled, 'the stream pays relays');
}

describe('player receipts', () => {
  it("counts a low-latency viewer's init segment, whole CMAF segments and parts, names the newest part's segment, and the payer credits it", async () => {
    const w = world();
    await enabled(w.receipts);
    w.receipts.delivered(`${RELAY}/hls/ll/source/init-0.mp4`, 800);
    w.receipts.delivered(`${RELAY}/hls/ll/source/1.m4s`, 5_000);
    w.receipts.delivered(`${RELAY}/hls/ll/source/2.0.m4s?_HLS_msn=2&_HLS_part=0`, 1_000);
    w.receipts.delivered(`${RELAY}/hls/ll/source/2.1.m4s`, 1_000);
    // Not this stream's, not a segment: not counted.
    w.receipts.delivered(`${RELAY}/hls/other/source/2.2.m4s`, 9_999);
    w.receipts.delivered(`${RELAY}/hls/ll/source/index.m3u8`, 9_999);
    await w.receipts.close();
    assert.equal(w.received.length, 1);
    const r = w.received[0]!.receipt;
    assert.equal(r.bytes, 7_800);
    assert.equal(r.rendition, 'source');
    assert.equal(r.sequence, 2, 'the segment the newest part belongs to');
    const answer = await w.payer.claim(w.relay.address, { playbackId: 'll', ticketParams: w.params, receipts: w.received });
    assert.deepEqual(answer.results, [{ session: r.session, credited: 7_800 }]);
  });

  it('counts MPEG-TS segments as before, and an init segment first does not name a sequence ahead of what it played', async () => {
    const w = world();
    await enabled(w.receipts);
    w.receipts.delivered(`${RELAY}/hls/ll/source/init-5.mp4`, 100);
    w.receipts.delivered(`${RELAY}/hls/ll/source/1.ts`, 4_000);
    w.receipts.delivered(`${RELAY}/hls/ll/source/init-7.mp4`, 100);
    await w.receipts.close();
    assert.deepEqual([w.received[0]!.receipt.bytes, w.received[0]!.receipt.sequence], [4_200, 1]);
  });
});

const payer = randomIdentity();
let SEGMENT: Buffer;

describe('player receipts ride on segment requests', () => {
  let relay: Relay;
  let payerServer: Server;
  let payerUrl: string;
  let segmentUrl: string;

  beforeAll(async () => {
    ({ relay, segment: SEGMENT, segmentUrl } = await startPricedRelay({ payer: payer.address, payerUrl: () => payerUrl, packets: 50 }));
    payerServer = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const { playbackId, sessionKey } = JSON.parse(body) as { playbackId: string; sessionKey: string };
        const now = Date.now();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(signCertificate({ playbackId, sessionKey, payer: payer.address, issuedAt: now, expiresAt: now + 600_000, byteBudget: 1e9 }, payer.privateKey)));
      });
    });
    await new Promise<void>((r) => payerServer.listen(0, '127.0.0.1', r));
    payerUrl = `http://127.0.0.1:${(payerServer.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await relay?.stop();
    await new Promise((r) => payerServer?.close(r));
  });

  const player = async () => {
    const terms = Promise.resolve({ payer: payer.address, url: payerUrl, maxPricePerByte: '10' });
    const receipts = new DeliveryReceipts({ playbackId: 'paid', terms, intervalMs: 600_000 });
    await terms;
    return receipts;
  };
  /** A segment request as the player's loader makes it: the due receipt attached, the answer read back. */
  const load = async (receipts: DeliveryReceipts) => {
    const url = receipts.attach(segmentUrl);
    const res = await fetch(url);
    const bytes = (await res.arrayBuffer()).byteLength;
    receipts.answered(url, (h) => res.headers.get(h));
    receipts.delivered(url, bytes);
    return url;
  };
  const origin = () => new URL(relay.url).origin;

  it('signs at the interval, sends the receipt on the next segment request, and counts the relay’s answer', async () => {
    const receipts = await player();
    assert.equal(await load(receipts), segmentUrl, 'nothing to send before the first interval');
    await receipts.flush(false);
    const url = await load(receipts);
    assert.ok(url.includes(`${RECEIPT_PARAM}=`), 'the receipt rode on the segment request');
    assert.deepEqual(receipts.state.relays[origin()], { bytes: 2 * SEGMENT.length, sent: SEGMENT.length });
    assert.equal(receipts.state.rode, 1);
    assert.equal(receipts.state.posted, 0);
    assert.equal(receipts.state.refused, 0);
    await receipts.close();
    assert.equal(receipts.state.posted, 1, 'the last receipt is POSTed on leaving');
    assert.deepEqual(receipts.state.relays[origin()], { bytes: 2 * SEGMENT.length, sent: 2 * SEGMENT.length });
  });

  it('POSTs a receipt no segment request took by the next interval, and one the relay did not answer', async () => {
    const receipts = await player();
    await load(receipts);
    await receipts.flush(false);
    // Paused: no segment request; the next interval sends it on its own.
    await receipts.flush(false);
    assert.equal(receipts.state.posted, 1);
    assert.deepEqual(receipts.state.relays[origin()], { bytes: SEGMENT.length, sent: SEGMENT.length });
    await load(receipts);
    await receipts.flush(false);
    // A relay that ignores the parameter (no answer header): the receipt is due again, and POSTed next.
    const url = receipts.attach(segmentUrl);
    assert.notEqual(url, segmentUrl);
    receipts.answered(url, () => null);
    await receipts.flush(false);
    assert.equal(receipts.state.posted, 2);
    assert.deepEqual(receipts.state.relays[origin()], { bytes: 2 * SEGMENT.length, sent: 2 * SEGMENT.length });
    assert.equal(receipts.state.refused, 0);
    await receipts.close();
  });
});
