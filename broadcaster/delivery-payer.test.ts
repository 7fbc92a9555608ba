import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { randomIdentity, type Identity } from '../protocol/identity.ts';
import { signCertificate, signReceipt, type SignedCertificate } from '../protocol/delivery-receipt.ts';
import type { Claim } from '../protocol/delivery-claim.ts';
import { decodePayment } from '../protocol/payment.ts';
import { TicketParamsIssuer } from '../protocol/ticket-params.ts';
import { MAX_WIN_PROB } from '../protocol/ticket.ts';
import { CLAIM_GRACE_MS, DeliveryPayer } from './delivery-payer.ts';

const SEGMENT = 250_000;

function setup(options: { edges?: string[] } = {}) {
  let now = 100_000;
  const payerId = randomIdentity();
  const payer = new DeliveryPayer({ identity: payerId, maxPricePerByte: 10n, maxFaceValue: 10n ** 18n, sessionTtlMs: 60_000, sessionBytes: 10 * SEGMENT, now: () => now, isRelay: async (a) => (options.edges ?? []).includes(a) });
  payer.open('show');
  // Two 2 s segments in two renditions before the viewer arrives.
  for (const seq of [0, 1]) {
    payer.published('show', '720p', seq, SEGMENT, 2);
    payer.published('show', '360p', seq, SEGMENT / 4, 2);
  }
  const relay = randomIdentity();
  const issuer = new TicketParamsIssuer(relay.address);
  const params = (faceValue = 1_000_000n, winProb = MAX_WIN_PROB, price = 2n) => issuer.issue(payerId.address, { faceValue, winProb, pricePerPixel: price, ttlMs: 600_000, now });
  const viewer = randomIdentity();
  const certificate = payer.issueSession('show', viewer.address);
  const receipt = (bytes: number, extra: Partial<{ relay: string; sequence: number; rendition: string; at: number; key: Identity; cert: SignedCertificate | undefined; session: string }> = {}) =>
    signReceipt(
      { session: extra.session ?? viewer.address, playbackId: 'show', relay: extra.relay ?? relay.address, bytes, rendition: extra.rendition ?? '720p', sequence: extra.sequence ?? 1, at: extra.at ?? now },
      (extra.key ?? viewer).privateKey,
      'cert' in extra ? extra.cert : certificate,
    );
  const claim = (receipts: Claim['receipts'], p = params()): Promise<Awaited<ReturnType<DeliveryPayer['claim']>>> => payer.claim(relay.address, { playbackId: 'show', ticketParams: p, receipts });
  return { payer, payerId, relay, viewer, certificate, receipt, claim, params, advance: (ms: number) => (now += ms), publish: (seq: number) => payer.published('show', '720p', seq, SEGMENT, 2) };
}

describe('delivery payer', () => {
  it('certifies a session key for a stream it publishes, and refuses one it does not', () => {
    const { payer, payerId, certificate, viewer } = setup();
    assert.equal(certificate.certificate.payer, payerId.address);
    assert.equal(certificate.certificate.sessionKey, viewer.address);
    assert.throws(() => payer.issueSession('other', viewer.address), /publishes no such stream/);
  });

  it('credits new bytes of cumulative receipts and pays tickets worth exactly bytes × price (win probability 1)', async () => {
    const t = setup();
    const first = await t.claim([t.receipt(300_000)]);
    assert.deepEqual(first.results, [{ session: t.viewer.address, credited: 300_000 }]);
    // 600,000 wei owed, tickets of 1,000,000: one ticket, 400,000 over.
    assert.equal(decodePayment(first.payment!).tickets.length, 1);
    assert.equal(first.owedWei, '600000');
    assert.equal(first.paidWei, '1000000');
    const second = await t.claim([t.receipt(450_000)]);
    assert.equal(second.results[0]!.credited, 150_000);
    // 900,000 owed, 1,000,000 paid: the overpayment carries, no ticket this time.
    assert.equal(second.payment, null);
    const third = await t.claim([t.receipt(500_000)]);
    assert.equal(third.owedWei, '1000000');
    assert.equal(third.payment, null);
    t.advance(2_000);
    t.publish(2);
    const fourth = await t.claim([t.receipt(700_000, { sequence: 2 })]);
    assert.equal(fourth.owedWei, '1400000');
    assert.equal(fourth.paidWei, '2000000');
    // Paid never trails owed, and is ahead by less than one ticket.
    assert.ok(BigInt(fourth.paidWei) - BigInt(fourth.owedWei) < 1_000_000n);
  });

  it('uses a fresh nonce for every ticket on the same parameters', async () => {
    const t = setup();
    const p = t.params(100_000n);
    const a = decodePayment((await t.claim([t.receipt(100_000)], p)).payment!);
    const b = decodePayment((await t.claim([t.receipt(200_000)], p)).payment!);
    const nonces = [...a.tickets, ...b.tickets].map((x) => x.senderNonce);
    assert.equal(new Set(nonces).size, nonces.length);
  });

  it('refuses a regression (regressed) and a replay (replayed) and credits nothing for them', async () => {
    const t = setup();
    await t.claim([t.receipt(300_000)]);
    const again = await t.claim([t.receipt(300_000)]);
    assert.deepEqual(again.results, [{ session: t.viewer.address, credited: 0, reason: 'replayed' }]);
    const back = await t.claim([t.receipt(200_000)]);
    assert.equal(back.results[0]!.reason, 'regressed');
    assert.equal(back.owedWei, '600000');
  });

  it('refuses a receipt naming another relay (wrong_relay)', async () => {
    const t = setup();
    const r = await t.claim([t.receipt(100_000, { relay: randomIdentity().address })]);
    assert.equal(r.results[0]!.reason, 'wrong_relay');
    assert.equal(r.payment, null);
  });

  it('refuses forged receipts: another signer (bad_signature), a certificate the relay minted (bad_certificate), another payer', async () => {
    const t = setup();
    assert.equal((await t.claim([t.receipt(100_000, { key: randomIdentity() })])).results[0]!.reason, 'bad_signature');
    const fake = randomIdentity();
    const minted = signCertificate({ ...t.certificate.certificate, sessionKey: fake.address }, t.relay.privateKey);
    assert.equal((await t.claim([t.receipt(100_000, { key: fake, session: fake.address, cert: minted })])).results[0]!.reason, 'bad_certificate');
    // A certificate this payer never issued, though signed by its key, is refused too (the payer remembers what it issued).
    const unissued = signCertificate({ ...t.certificate.certificate, sessionKey: fake.address }, t.payerId.privateKey);
    assert.equal((await t.claim([t.receipt(100_000, { key: fake, session: fake.address, cert: unissued })])).results[0]!.reason, 'bad_certificate');
  });

  it('refuses bytes past the session budget (over_budget)', async () => {
    const t = setup();
    for (let seq = 2; seq < 20; seq++) t.publish(seq);
    t.advance(60_000 - 1);
    const r = await t.claim([t.receipt(10 * SEGMENT + 1, { sequence: 19 })]);
    assert.equal(r.results[0]!.reason, 'over_budget');
  });

  it('refuses a receipt signed after the certificate expired, and any claim past the grace (expired)', async () => {
    const t = setup();
    t.advance(60_001);
    assert.equal((await t.claim([t.receipt(100_000)])).results[0]!.reason, 'expired');
    const early = t.receipt(100_000, { at: t.certificate.certificate.expiresAt - 1 });
    t.advance(CLAIM_GRACE_MS);
    assert.equal((await t.claim([early])).results[0]!.reason, 'expired');
  });

  it('refuses more bytes than the segments published since the session began weigh (implausible)', async () => {
    const t = setup();
    // Two segments of the heaviest rendition are 500,000 bytes; 1.25 × that plus one segment is the bound.
    t.advance(60_000 - 1);
    const r = await t.claim([t.receipt(1.25 * 2 * SEGMENT + SEGMENT + 1)]);
    assert.equal(r.results[0]!.reason, 'implausible');
  });

  it('refuses more bytes than the stream bitrate over the session time allows (implausible)', async () => {
    const t = setup();
    for (let seq = 2; seq < 9; seq++) t.publish(seq);
    // Nine segments are published, but the session is 1 s old: 1.25 × peak × 1 s + one segment + a live window.
    t.advance(1_000);
    const cap = 1.25 * (SEGMENT / 2) + SEGMENT + 8 * SEGMENT;
    assert.equal((await t.claim([t.receipt(Math.ceil(cap) + 1, { sequence: 8 })])).results[0]!.reason, 'implausible');
  });

  it('refuses a receipt for a segment that was never published (unknown_segment)', async () => {
    const t = setup();
    assert.equal((await t.claim([t.receipt(100_000, { sequence: 7 })])).results[0]!.reason, 'unknown_segment');
    assert.equal((await t.claim([t.receipt(100_000, { rendition: '1080p' })])).results[0]!.reason, 'unknown_segment');
  });

  it('credits a low-latency viewer whose newest bytes are parts of the segment being cut (the one after the newest published), and nothing further ahead', async () => {
    const t = setup();
    // Segments 0 and 1 are published: parts of 2 are what a viewer at the live edge has.
    assert.equal((await t.claim([t.receipt(100_000, { sequence: 3 })])).results[0]!.reason, 'unknown_segment');
    assert.equal((await t.claim([t.receipt(100_000, { sequence: 2, rendition: '1080p' })])).results[0]!.reason, 'unknown_segment');
    assert.deepEqual((await t.claim([t.receipt(100_000, { sequence: 2 })])).results, [{ session: t.viewer.address, credited: 100_000 }]);
  });

  it("credits an edge's receipt, signed by its node key, only when the key is a registered relay (not_an_edge), up to one copy of the stream", async () => {
    const edge = randomIdentity();
    const t = setup({ edges: [edge.address] });
    const stranger = randomIdentity();
    assert.equal((await t.claim([t.receipt(100_000, { key: stranger, session: stranger.address, cert: undefined })])).results[0]!.reason, 'not_an_edge');
    assert.equal((await t.claim([t.receipt(100_000, { key: edge, session: edge.address, cert: undefined })])).results[0]!.credited, 100_000);
    // Everything published weighs 625,000 bytes: 1.25 × that + one segment is the bound.
    assert.equal((await t.claim([t.receipt(1.25 * 625_000 + SEGMENT + 1, { key: edge, session: edge.address, cert: undefined })])).results[0]!.reason, 'implausible');
  });

  it('refuses a whole claim whose tickets are for another recipient, above the maximum price, or whose stream it does not publish', async () => {
    const t = setup();
    const other = new TicketParamsIssuer(randomIdentity().address).issue(t.payerId.address, { faceValue: 1n, winProb: MAX_WIN_PROB, pricePerPixel: 1n, ttlMs: 60_000, now: 100_000 });
    await assert.rejects(t.claim([t.receipt(1)], other), /ticket parameters are for/);
    await assert.rejects(t.claim([t.receipt(1)], t.params(1_000n, MAX_WIN_PROB, 11n)), /above this payer's maximum/);
    await assert.rejects(t.payer.claim(t.relay.address, { playbackId: 'nope', ticketParams: t.params(), receipts: [] }), /publishes no such stream/);
  });

  it('pays nothing to a relay that claims without receipts', async () => {
    const t = setup();
    const r = await t.claim([]);
    assert.equal(r.payment, null);
    assert.equal(r.owedWei, '0');
  });

  it('keeps what each relay is owed apart: a viewer that moved relays is paid to both, within its one budget', async () => {
    const t = setup();
    const second = randomIdentity();
    const issuer2 = new TicketParamsIssuer(second.address);
    await t.claim([t.receipt(200_000)]);
    const p2 = issuer2.issue(t.payerId.address, { faceValue: 1_000_000n, winProb: MAX_WIN_PROB, pricePerPixel: 2n, ttlMs: 600_000, now: 100_000 });
    const r = await t.payer.claim(second.address, { playbackId: 'show', ticketParams: p2, receipts: [t.receipt(100_000, { relay: second.address })] });
    assert.equal(r.results[0]!.credited, 100_000);
    assert.equal(r.owedWei, '200000');
  });
});
