// The player's receipts (issue 14) against a real priced relay over HTTP: a receipt signed at an interval
// rides on the next segment request to its relay and the relay's answer header is read back; one no
// segment request took, or one the relay did not answer, is POSTed at the next interval; the last one
// goes out on leaving. The stream's payer is a small HTTP server that certifies session keys as
// broadcaster/delivery-payer.ts does (the protocol's signCertificate).

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { createRelay, type Relay } from '../relay/relay.ts';
import { silentLogger } from '../observability/logger.ts';
import { RelayClient } from '../broadcaster/node-clients.ts';
import { identityFromPrivateKey, randomIdentity } from '../protocol/identity.ts';
import { signSegmentBytes } from '../protocol/segment-signing.ts';
import { RECEIPT_PARAM, signCertificate } from '../protocol/delivery-receipt.ts';
import { DeliveryReceipts } from './receipts.ts';

const payer = randomIdentity();
const SEGMENT = Buffer.alloc(188 * 50);
for (let i = 0; i < SEGMENT.length; i += 188) SEGMENT[i] = 0x47;

describe('player receipts ride on segment requests', () => {
  let relay: Relay;
  let payerServer: Server;
  let payerUrl: string;
  let segmentUrl: string;

  beforeAll(async () => {
    relay = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, pricePerByte: 1n, claimIntervalMs: 600_000 }, { logger: silentLogger, deliveryLookup: async () => ({ payer: payer.address, url: payerUrl, maxPricePerByte: '10' }) });
    await relay.start();
    const publisher = identityFromPrivateKey(secp256k1.utils.randomSecretKey());
    const client = new RelayClient();
    await client.pushDescriptor(relay.url, { playbackId: 'paid', targetDuration: 2, variants: [{ name: 'source', width: 640, height: 360, bandwidth: 1e6, codecs: 'avc1.64001f,mp4a.40.2' }] }, publisher);
    const meta = { duration: 2, programDateTime: new Date().toISOString(), discontinuity: false };
    await client.pushSegment(relay.url, 'paid', 'source', 0, meta, SEGMENT, signSegmentBytes(publisher.privateKey, { playbackId: 'paid', rendition: 'source', seq: 0 }, meta, SEGMENT));
    segmentUrl = `${relay.url}/hls/paid/source/0.ts`;
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
