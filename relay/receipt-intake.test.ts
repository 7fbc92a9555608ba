// Receipts riding on segment requests (issue 14): a real priced relay over HTTP keeps a receipt carried
// by a segment request's castnet-receipt parameter, answers every refusal in the castnet-receipt header
// with its reason while the segment is still served, rate-limits new sessions per address and a known
// session's receipts per session, bounds the parameter, and still takes receipts POSTed on their own.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Relay } from './relay.ts';
import { startPricedRelay } from '../test/support/priced-relay.ts';
import { randomIdentity } from '../protocol/identity.ts';
import { MAX_RECEIPT_PARAM_CHARS, parseReceiptAnswer, RECEIPT_ANSWER_HEADER, RECEIPT_PARAM, signCertificate, signReceipt, withReceiptParam, type SignedReceipt } from '../protocol/delivery-receipt.ts';
import { RECEIPTS_BURST, receiptParamOf } from './receipt-intake.ts';

const payer = randomIdentity();
let SEGMENT: Buffer;

describe('receipts riding on segment requests', () => {
  let relay: Relay;
  let segmentUrl: string;
  // The relay's clock stands still unless a test moves it: rate limits refill only when it does.
  let clock = Date.now();

  beforeAll(async () => {
    ({ relay, segment: SEGMENT, segmentUrl } = await startPricedRelay({ payer: payer.address, payerUrl: () => 'http://127.0.0.1:9', packets: 100, now: () => clock }));
  });

  afterAll(async () => {
    await relay?.stop();
  });

  const viewer = () => {
    const id = randomIdentity();
    const now = Date.now();
    const cert = signCertificate({ playbackId: 'paid', sessionKey: id.address, payer: payer.address, issuedAt: now, expiresAt: now + 600_000, byteBudget: 1e9 }, payer.privateKey);
    return { address: id.address, receipt: (bytes: number, key = id.privateKey): SignedReceipt => signReceipt({ session: id.address, playbackId: 'paid', relay: relay.paymentAddress, bytes, rendition: 'source', sequence: 0, at: now }, key, cert) };
  };
  /** A segment GET carrying `signed`: the body must be the whole segment whatever the receipt's fate. */
  const ride = async (signed: SignedReceipt | string, url = segmentUrl) => {
    const res = await fetch(typeof signed === 'string' ? `${url}?${RECEIPT_PARAM}=${signed}` : withReceiptParam(url, signed));
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(res.status, 200);
    assert.ok(body.equals(SEGMENT), 'the segment is served in full');
    return { answer: res.headers.get(RECEIPT_ANSWER_HEADER), expose: res.headers.get('access-control-expose-headers') ?? '' };
  };

  it('keeps a receipt carried by a segment request and answers kept in a header browsers may read', async () => {
    const v = viewer();
    const { answer, expose } = await ride(v.receipt(SEGMENT.length));
    assert.equal(answer, 'kept');
    assert.deepEqual(parseReceiptAnswer(answer), { kept: true });
    assert.ok(expose.split(/,\s*/).includes(RECEIPT_ANSWER_HEADER), `exposed: ${expose}`);
    assert.equal((await ride(v.receipt(2 * SEGMENT.length))).answer, 'kept');
    const before = relay.earnings.figures('paid')!.receiptBytes;
    // A segment request without a receipt is answered as ever, with no receipt header.
    const plain = await fetch(segmentUrl);
    await plain.arrayBuffer();
    assert.equal(plain.headers.get(RECEIPT_ANSWER_HEADER), null);
    assert.equal(relay.earnings.figures('paid')!.receiptBytes, before);
  });

  it('refuses with the reason a replayed, regressed, forged or malformed receipt, and still serves the segment', async () => {
    const v = viewer();
    const first = v.receipt(1_000);
    assert.equal((await ride(first)).answer, 'kept');
    assert.equal((await ride(first)).answer, 'refused; reason=replayed');
    assert.equal((await ride(v.receipt(500))).answer, 'refused; reason=regressed');
    assert.deepEqual(parseReceiptAnswer((await ride(viewer().receipt(1_000, randomIdentity().privateKey))).answer), { kept: false, reason: 'bad_signature' });
    const other = randomIdentity();
    assert.equal((await ride(signReceipt({ ...first.receipt, relay: other.address, bytes: 2_000 }, randomIdentity().privateKey))).answer, 'refused; reason=wrong_relay');
    assert.equal((await ride('not!base64')).answer, 'refused; reason=malformed_receipt');
    assert.equal((await ride(Buffer.from('{"receipt":1}').toString('base64url'))).answer, 'refused; reason=invalid_receipt');
    // Bounded: a parameter longer than any receipt is not decoded at all.
    assert.equal((await ride('A'.repeat(MAX_RECEIPT_PARAM_CHARS + 1))).answer, 'refused; reason=malformed_receipt');
    // A receipt for another stream, on this stream's segment.
    assert.equal((await ride(signReceipt({ ...first.receipt, playbackId: 'elsewhere', bytes: 3_000 }, randomIdentity().privateKey))).answer, 'refused; reason=wrong_stream');
  });

  it('still takes a receipt POSTed on its own, and a riding receipt of that session after it', async () => {
    const v = viewer();
    const res = await fetch(`${relay.url}/delivery/paid/receipts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(v.receipt(100)) });
    await res.arrayBuffer();
    assert.equal(res.status, 204);
    assert.equal((await ride(v.receipt(200))).answer, 'kept');
  });

  it("limits a known session's riding receipts per session, and new sessions per source address", async () => {
    const v = viewer();
    const answers: Array<string | null> = [];
    for (let i = 1; i <= RECEIPTS_BURST + 2; i++) answers.push((await ride(v.receipt(i * 10))).answer);
    // The first receipt is a new session's (limited per address); the next RECEIPTS_BURST are the session's burst.
    assert.ok(answers.slice(0, RECEIPTS_BURST + 1).every((a) => a === 'kept'), JSON.stringify(answers));
    assert.equal(answers.at(-1), 'refused; reason=receipt_rate');
    // Another session from the same address is not refused for it.
    assert.equal((await ride(viewer().receipt(10))).answer, 'kept');
    // New sessions (two signature recoveries each) from one address: the burst, then refusals.
    const fresh: Array<string | null> = [];
    for (let i = 0; i < RECEIPTS_BURST; i++) fresh.push((await ride(viewer().receipt(10))).answer);
    assert.equal(fresh.at(-1), 'refused; reason=receipt_rate');
    // A second later the session has RECEIPTS_PER_SECOND receipts again.
    clock += 1_000;
    assert.equal((await ride(v.receipt(10_000))).answer, 'kept');
    // A receipt with no more bytes than the unverified one held makes the relay recover that one: it counts
    // against the address, not the session, so known certificates buy no extra recoveries.
    for (let i = 0; i < 4; i++) assert.equal((await ride(viewer().receipt(10))).answer, 'kept', 'the address’s refill, spent on new sessions');
    assert.equal((await ride(v.receipt(9_000))).answer, 'refused; reason=receipt_rate');
    assert.equal((await ride(v.receipt(11_000))).answer, 'kept', 'the session’s own receipts still pass');
  });

});

describe('receiptParamOf', () => {
  it('finds the receipt parameter first, among others, or not at all', () => {
    assert.equal(receiptParamOf(`${RECEIPT_PARAM}=abc`), 'abc');
    assert.equal(receiptParamOf(`token=x&${RECEIPT_PARAM}=abc&_HLS_msn=3`), 'abc');
    assert.equal(receiptParamOf(`x${RECEIPT_PARAM}=abc`), null);
    assert.equal(receiptParamOf('token=x'), null);
    assert.equal(receiptParamOf(`${RECEIPT_PARAM}=`), '');
  });
});
