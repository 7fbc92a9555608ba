// The relay's side of receipts (issue 14): what it refuses on arrival, that a known session's next receipts
// cost no signature recovery and are held unverified beside the last verified one, and that a forgery
// neither displaces an honest count for good nor survives the payer's answer.

import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { randomIdentity } from '../protocol/identity.ts';
import { checkReceiptSignatures, signCertificate, signReceipt, type Receipt, type SignedCertificate, type SignedReceipt } from '../protocol/delivery-receipt.ts';
import { TicketParamsIssuer } from '../protocol/ticket-params.ts';
import { MAX_WIN_PROB } from '../protocol/ticket.ts';
import { CastnetError } from '../protocol/errors.ts';
import { silentLogger } from '../observability/logger.ts';
import type { PaymentReceiver } from '../settlement/payment-receiver.ts';
import { DeliveryEarnings, MAX_CLAIMS_PER_ROUND } from './delivery-earnings.ts';
import { encodePayment, paymentRequired } from '../protocol/payment.ts';
import { MAX_RECEIPTS_PER_CLAIM } from '../protocol/delivery-receipt.ts';

const payer = randomIdentity();
const relayId = randomIdentity();

/** A relay's earnings; `payments` and `fetch` (the payer) replace the defaults when a test needs its own. */
function setup(own: { payments?: PaymentReceiver; fetch?: typeof fetch } = {}) {
  const claims: SignedReceipt[][] = [];
  const issuer = new TicketParamsIssuer(relayId.address);
  // The payer's answer as broadcaster/delivery-payer.ts gives it: a signature check per receipt, credit for the rest (no tickets).
  const payerFetch = (async (_url: string, init: { body: Uint8Array }) => {
    const claim = JSON.parse(new TextDecoder().decode(init.body)) as { receipts: SignedReceipt[] };
    claims.push(claim.receipts);
    const results = claim.receipts.map((r) => {
      const bad = checkReceiptSignatures(r);
      return bad ? { session: r.receipt.session, credited: 0, reason: bad } : { session: r.receipt.session, credited: 0 };
    });
    return new Response(JSON.stringify({ results, pricePerByte: '1', payment: null, owedWei: '0', paidWei: '0' }), { headers: { 'content-type': 'application/json' } });
  }) as unknown as typeof fetch;
  const events: string[] = [];
  const earnings = new DeliveryEarnings({
    identity: relayId,
    pricePerByte: 1n,
    claimIntervalMs: 60_000,
    refuseUnpaid: false,
    lookup: async () => ({ payer: payer.address, url: 'http://payer.invalid', maxPricePerByte: '10' }),
    payments: own.payments ?? ({ ticketParams: (sender: string) => issuer.issue(sender, { faceValue: 1_000n, winProb: MAX_WIN_PROB, pricePerPixel: 1n, ttlMs: 60_000, now: Date.now() }) } as unknown as PaymentReceiver),
    fetch: own.fetch ?? payerFetch,
    logger: silentLogger,
    events: { receipt: (result) => events.push(result) },
  });
  return { earnings, claims, events };
}

function viewer(): { key: Uint8Array; address: string; cert: SignedCertificate; receipt: (bytes: number, key?: Uint8Array) => SignedReceipt } {
  const id = randomIdentity();
  const now = Date.now();
  const cert = signCertificate({ playbackId: 'show', sessionKey: id.address, payer: payer.address, issuedAt: now, expiresAt: now + 600_000, byteBudget: 1e9 }, payer.privateKey);
  const base: Omit<Receipt, 'bytes'> = { session: id.address, playbackId: 'show', relay: relayId.address, rendition: 'source', sequence: 1, at: now };
  return { key: id.privateKey, address: id.address, cert, receipt: (bytes, key = id.privateKey) => signReceipt({ ...base, bytes }, key, cert) };
}

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof CastnetError);
    return String(err.context.reason);
  }
  return 'accepted';
}

describe('relay delivery earnings: receipts on arrival and at claim time', () => {
  it('refuses on arrival a receipt naming another relay or stream, a forged first receipt, a replay and a regression, each with its reason', async () => {
    const { earnings } = setup();
    const v = viewer();
    const other = randomIdentity();
    assert.equal(await reason(earnings.receive('show', signReceipt({ ...v.receipt(10).receipt, relay: other.address }, v.key, v.cert))), 'wrong_relay');
    assert.equal(await reason(earnings.receive('other', v.receipt(10))), 'wrong_stream');
    // A session's first receipt is checked in full: a wrong key, or a certificate the relay minted, is refused at once.
    assert.equal(await reason(earnings.receive('show', v.receipt(10, other.privateKey))), 'bad_signature');
    const minted = signCertificate(v.cert.certificate, other.privateKey);
    assert.equal(await reason(earnings.receive('show', signReceipt(v.receipt(10).receipt, v.key, minted))), 'bad_certificate');
    const first = v.receipt(100);
    assert.equal(await reason(earnings.receive('show', first)), 'accepted');
    assert.equal(await reason(earnings.receive('show', first)), 'replayed');
    const second = v.receipt(200);
    assert.equal(await reason(earnings.receive('show', second)), 'accepted');
    assert.equal(await reason(earnings.receive('show', second)), 'replayed');
    assert.equal(await reason(earnings.receive('show', v.receipt(150))), 'regressed');
    assert.equal(earnings.figures('show')!.receiptBytes, 200);
  });

  it('holds a known session’s next receipts without recovering their signature, one unverified beside the verified one', async () => {
    const { earnings } = setup();
    const v = viewer();
    await earnings.receive('show', v.receipt(100));
    assert.equal(earnings.figures('show')!.unverified, 0, 'the first receipt is verified');
    const next = Array.from({ length: 500 }, (_, i) => v.receipt(200 + i * 100));
    const started = performance.now();
    for (const r of next) await earnings.receive('show', r);
    const receiveMs = performance.now() - started;
    assert.deepEqual(earnings.figures('show'), { receiptBytes: 200 + 499 * 100, owedWei: 0n, paidWei: 0n, pending: 1, unverified: 1 });
    // 500 receipts take the relay less time than 50 signature recoveries would.
    const recoveriesStarted = performance.now();
    for (const r of next.slice(0, 50)) assert.equal(checkReceiptSignatures(r, { certificateVerified: true }), null);
    const recoveriesMs = performance.now() - recoveriesStarted;
    assert.ok(receiveMs < recoveriesMs, `500 receipts took ${receiveMs.toFixed(1)} ms, 50 recoveries ${recoveriesMs.toFixed(1)} ms`);
  });

  it('drops a forgery with inflated bytes as soon as an honest receipt conflicts with it, so the honest count goes on', async () => {
    const { earnings, events } = setup();
    const v = viewer();
    const attacker = randomIdentity();
    await earnings.receive('show', v.receipt(100));
    // The attacker knows the session's address and certificate, not its key.
    assert.equal(await reason(earnings.receive('show', v.receipt(2 ** 49, attacker.privateKey))), 'accepted');
    assert.equal(await reason(earnings.receive('show', v.receipt(300))), 'accepted');
    assert.ok(events.includes('dropped_forged'));
    assert.equal(earnings.figures('show')!.receiptBytes, 300);
    // A genuine regression is still refused after that check.
    assert.equal(await reason(earnings.receive('show', v.receipt(250))), 'regressed');
  });

  it('says a receipt costs no recovery only for a held session, the same certificate and more bytes than the unverified one held', async () => {
    const { earnings } = setup();
    const v = viewer();
    assert.equal(earnings.holds('show', v.receipt(100)), false, 'a new session: both recoveries');
    await earnings.receive('show', v.receipt(100));
    assert.equal(earnings.holds('show', v.receipt(200)), true);
    await earnings.receive('show', v.receipt(200));
    // No more bytes than the unverified one held: receive() would recover that one's signature.
    assert.equal(earnings.holds('show', v.receipt(150)), false);
    assert.equal(earnings.holds('show', v.receipt(300)), true);
    const other = signCertificate({ ...v.cert.certificate, byteBudget: 5 }, payer.privateKey);
    assert.equal(earnings.holds('show', signReceipt(v.receipt(300).receipt, v.key, other)), false, 'another certificate: checked in full');
    assert.equal(earnings.holds('elsewhere', v.receipt(300)), false);
  });

  it("claims a backlog larger than one claim's batch in the same round, in batches, and no more claims than the round allows", async () => {
    const { earnings, claims } = setup();
    const viewers = Array.from({ length: 2 * MAX_RECEIPTS_PER_CLAIM + 88 }, () => viewer());
    for (const v of viewers) await earnings.receive('show', v.receipt(1_000));
    await earnings.claimAll();
    assert.deepEqual(claims.map((c) => c.length), [MAX_RECEIPTS_PER_CLAIM, MAX_RECEIPTS_PER_CLAIM, 88]);
    assert.equal(earnings.figures('show')!.pending, 0);
    assert.equal(new Set(claims.flat().map((r) => r.receipt.session)).size, viewers.length, 'each session claimed once');
    assert.ok(MAX_CLAIMS_PER_ROUND * MAX_RECEIPTS_PER_CLAIM >= 4_000);
  });

  it('spends no more than MAX_CLAIMS_PER_ROUND claims a round: with that many streams due, a backlog waits for the next round', async () => {
    const { earnings, claims } = setup();
    for (let i = 0; i <= MAX_RECEIPTS_PER_CLAIM; i++) await earnings.receive('show', viewer().receipt(1_000));
    for (let i = 1; i < MAX_CLAIMS_PER_ROUND; i++) {
      const id = randomIdentity();
      const now = Date.now();
      const cert = signCertificate({ playbackId: `other${i}`, sessionKey: id.address, payer: payer.address, issuedAt: now, expiresAt: now + 600_000, byteBudget: 1e9 }, payer.privateKey);
      await earnings.receive(`other${i}`, signReceipt({ session: id.address, playbackId: `other${i}`, relay: relayId.address, rendition: 'source', sequence: 1, at: now, bytes: 10 }, id.privateKey, cert));
    }
    await earnings.claimAll();
    assert.equal(claims.length, MAX_CLAIMS_PER_ROUND);
    assert.equal(earnings.figures('show')!.pending, 1, 'the rest of the backlog waits');
    await earnings.claimAll();
    assert.equal(earnings.figures('show')!.pending, 0);
  });

  it('claims the newest receipt; one the payer refuses as forged is dropped and the verified one is claimed instead', async () => {
    const { earnings, claims } = setup();
    const honest = viewer();
    const victim = viewer();
    const attacker = randomIdentity();
    await earnings.receive('show', honest.receipt(100));
    await earnings.receive('show', honest.receipt(500));
    await earnings.receive('show', victim.receipt(100));
    await earnings.receive('show', victim.receipt(9_999, attacker.privateKey));
    await earnings.claimAll();
    assert.deepEqual(claims[0]!.map((r) => r.receipt.bytes).sort((a, b) => a - b), [500, 9_999]);
    // The payer credited the honest one (now verified) and refused the forgery: the victim's verified receipt stays owed.
    const f = earnings.figures('show')!;
    assert.equal(f.unverified, 0);
    assert.equal(f.pending, 1);
    assert.equal(f.receiptBytes, 600);
    await earnings.claimAll();
    assert.deepEqual(claims[1]!.map((r) => [r.receipt.session, r.receipt.bytes]), [[victim.address, 100]]);
    assert.equal(earnings.figures('show')!.pending, 0);
    // The honest session goes on from its verified 500.
    assert.equal(await reason(earnings.receive('show', honest.receipt(400))), 'regressed');
    assert.equal(await reason(earnings.receive('show', honest.receipt(700))), 'accepted');
  });
});

describe('relay delivery earnings: a payment it cannot check yet', () => {
  it("holds a payment refused for want of the payer's funds and takes it next round once they are seen, instead of losing what the payer counts paid", async () => {
    const issuer = new TicketParamsIssuer(relayId.address);
    const params = issuer.issue(payer.address, { faceValue: 1_000n, winProb: MAX_WIN_PROB, pricePerPixel: 1n, ttlMs: 60_000, now: Date.now() });
    const payment = encodePayment({ sender: payer.address, ticketParams: params, tickets: [{ senderNonce: 0, signature: new Uint8Array(65) }] });
    let fundsSeen = false;
    let checks = 0;
    const payerFetch = (async (_url: string, init: { body: Uint8Array }) => {
      const claim = JSON.parse(new TextDecoder().decode(init.body)) as { receipts: SignedReceipt[] };
      const results = claim.receipts.map((r) => ({ session: r.receipt.session, credited: r.receipt.bytes }));
      return new Response(JSON.stringify({ results, pricePerByte: '1', payment, owedWei: '100', paidWei: '1000' }), { headers: { 'content-type': 'application/json' } });
    }) as unknown as typeof fetch;
    const payments = {
      ticketParams: () => params,
      verify: async (p: unknown) => {
        checks++;
        if (!fundsSeen) throw paymentRequired('insufficient_deposit', 'what the sender can pay this transcoder (0 wei) cannot cover the face value 1000');
        return p;
      },
      redeem: () => ({ expectedValue: 1_000n }),
    } as unknown as PaymentReceiver;
    const { earnings } = setup({ payments, fetch: payerFetch });
    await earnings.receive('show', viewer().receipt(100));
    await earnings.claimAll();
    assert.equal(earnings.figures('show')!.paidWei, 0n, 'not taken yet');
    assert.equal(checks, 1);
    // Still not seen: held again.
    await earnings.claimAll();
    assert.equal(earnings.figures('show')!.paidWei, 0n);
    fundsSeen = true;
    await earnings.claimAll();
    assert.equal(earnings.figures('show')!.paidWei, 1_000n, 'taken once the funds are seen');
    await earnings.claimAll();
    assert.equal(earnings.figures('show')!.paidWei, 1_000n, 'and only once');
    assert.equal(checks, 3);
  });
});
