// Every way a segment's payment is refused before work, and what an accepted one does.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';
import { PaymentSender } from '../broadcaster/payment-sender.ts';
import { identityFromPrivateKey } from '../protocol/identity.ts';
import { decodePayment, encodePayment } from '../protocol/payment.ts';
import { ticketParamsToJson } from '../protocol/ticket-params.ts';
import { ticketOf } from '../protocol/payment.ts';
import { MAX_WIN_PROB, signTicket } from '../protocol/ticket.ts';
import { PaymentReceiver, type ChainTime, type PaymentTerms } from './payment-receiver.ts';
import { RedemptionQueue } from './redemption-queue.ts';

const terms: PaymentTerms = { pricePerPixel: 2n, faceValue: 1_000_000n, ticketEv: 100_000n, ticketTtlMs: 60_000 };

function setup(options: { funds?: bigint | null; terms?: Partial<PaymentTerms>; chain?: ChainTime } = {}) {
  // null: the settlement cannot be asked.
  let now = 1_000_000;
  const recipient = identityFromPrivateKey(randomBytes(32));
  const sender = identityFromPrivateKey(randomBytes(32));
  const queue = new RedemptionQueue(':memory:');
  const funds = async () => {
    if (options.funds === null) throw new Error('ECONNREFUSED');
    return options.funds ?? 10n ** 18n;
  };
  const receiver = new PaymentReceiver({ identity: recipient, terms: { ...terms, ...options.terms }, funds, queue, now: () => now, chain: options.chain ?? null });
  // The real sender, given the receiver's parameters as GET /ticket-params would serve them (the HTTP
  // route itself is exercised by the network tests).
  const url = 'http://transcoder.test';
  const payer = new PaymentSender({ identity: sender, maxPricePerPixel: 10n, now: () => now, ticketParams: async (_url, who) => ticketParamsToJson(receiver.ticketParams(who)) });
  return {
    receiver,
    queue,
    sender,
    payer,
    url,
    advance: (ms: number) => (now += ms),
    pay: async (pixels: bigint) => decodePayment((await payer.pay(url, pixels))!.header),
  };
}

const refusal = (reason: string) => (err: unknown) => {
  const e = err as { code?: string; context?: { reason?: string } };
  assert.equal(e.code, 'PAYMENT_REQUIRED');
  assert.equal(e.context?.reason, reason);
  return true;
};

describe('payment receiver', () => {
  it('accepts a payment whose expected value covers the price, and sends enough tickets for it', async () => {
    const t = setup();
    // 1,000,000 pixels × 2 wei = 2,000,000 wei; each ticket is worth 100,000 wei: 20 tickets.
    const payment = await t.pay(1_000_000n);
    assert.equal(payment.tickets.length, 20);
    const accepted = await t.receiver.accept(payment, 2_000_000n);
    assert.equal(accepted.tickets, 20);
    assert.ok(accepted.expectedValue >= 1_999_999n);
  });

  it('refuses a missing or malformed header', () => {
    assert.throws(() => decodePayment(undefined), refusal('missing'));
    assert.throws(() => decodePayment('not base64 json'), refusal('malformed'));
    assert.throws(() => decodePayment(Buffer.from('{"sender":"0x1"}').toString('base64')), refusal('malformed'));
  });

  it('refuses a replayed nonce, within a batch and across segments', async () => {
    // Wins one in a million, so a win (which spends the parameters, refused first) cannot hide the replay.
    const t = setup({ terms: { ticketEv: 1n } });
    const payment = await t.pay(10n);
    await t.receiver.accept(payment, 10n);
    await assert.rejects(t.receiver.accept(payment, 10n), refusal('replayed_nonce'));
    t.payer.invalidate(t.url);
    const fresh = await t.pay(10n);
    await assert.rejects(t.receiver.accept({ ...fresh, tickets: [fresh.tickets[0]!, fresh.tickets[0]!] }, 10n), refusal('replayed_nonce'));
  });

  it('refuses tickets for another recipient, tampered parameters, and expired parameters', async () => {
    const t = setup();
    const payment = await t.pay(10n);
    await assert.rejects(t.receiver.accept({ ...payment, ticketParams: { ...payment.ticketParams, recipient: `0x${'77'.repeat(20)}` } }, 10n), refusal('wrong_recipient'));
    await assert.rejects(t.receiver.accept({ ...payment, ticketParams: { ...payment.ticketParams, faceValue: payment.ticketParams.faceValue * 2n } }, 10n), refusal('invalid_params'));
    await assert.rejects(t.receiver.accept({ ...payment, ticketParams: { ...payment.ticketParams, winProb: MAX_WIN_PROB } }, 10n), refusal('invalid_params'));
    t.advance(61_000);
    await assert.rejects(t.receiver.accept(payment, 10n), refusal('expired'));
  });

  it('refuses a signature that is not the sender’s', async () => {
    const t = setup();
    const payment = await t.pay(10n);
    const other = identityFromPrivateKey(randomBytes(32));
    const forged = { ...payment, tickets: [{ senderNonce: 99, signature: signTicket(ticketOf(payment, 99), other.privateKey) }] };
    await assert.rejects(t.receiver.accept(forged, 10n), refusal('bad_signature'));
  });

  it('refuses tickets worth less than the segment’s price, naming the price', async () => {
    const t = setup();
    const payment = await t.pay(10n);
    await assert.rejects(t.receiver.accept(payment, 10n ** 9n), (err: { context: { price?: string } }) => refusal('insufficient_value')(err) && err.context.price === '1000000000');
  });

  it('refuses a sender whose deposit cannot cover the face value (insufficient_deposit), or whose funds cannot be learned (funds_unknown)', async () => {
    const poor = setup({ funds: 999_999n });
    await assert.rejects(poor.receiver.accept(await poor.pay(10n), 20n), refusal('insufficient_deposit'));
    const unknown = setup({ funds: null });
    await assert.rejects(unknown.receiver.accept(await unknown.pay(10n), 20n), refusal('funds_unknown'));
  });

  it('counts winners not yet redeemed against what the sender can pay', async () => {
    // Funds for exactly two winning tickets: the first two segments are paid, the third is refused until they are redeemed.
    const t = setup({ funds: 2n * terms.faceValue, terms: { ticketEv: terms.faceValue } });
    const paySegment = async () => {
      t.payer.invalidate(t.url); // every ticket wins, so each payment needs fresh parameters
      return t.receiver.accept(await t.pay(10n), 20n);
    };
    await paySegment();
    await paySegment();
    assert.equal(t.queue.outstanding(t.sender.address), 2n * terms.faceValue);
    await assert.rejects(paySegment(), refusal('insufficient_deposit'));
  });

  it('queues a winning ticket, then refuses its revealed parameters', async () => {
    const t = setup({ terms: { ticketEv: terms.faceValue } }); // winProb = 2^256 − 1: every ticket wins
    const payment = await t.pay(10n);
    const accepted = await t.receiver.accept(payment, 20n);
    assert.equal(accepted.winners, 1);
    assert.deepEqual(t.queue.counts(), { pending: 1 });
    const again = { ...payment, tickets: [{ senderNonce: 50, signature: signTicket(ticketOf(payment, 50), t.sender.privateKey) }] };
    await assert.rejects(t.receiver.accept(again, 20n), refusal('params_revealed'));
  });

  it('never pays a transcoder above the maximum price per pixel', async () => {
    const t = setup({ terms: { pricePerPixel: 11n } });
    await assert.rejects(t.payer.pay(t.url, 10n), refusal('price_too_high'));
  });

  it('round-trips the header through base64 JSON', async () => {
    const t = setup();
    const payment = await t.pay(10n);
    assert.deepEqual(decodePayment(encodePayment(payment)), payment);
  });

  it('on chain, binds parameters to the latest block and refuses tickets whose block is older than half the validity window', async () => {
    const chain: ChainTime & { block: { number: bigint; hash: string } | null } = {
      block: { number: 1_000n, hash: `0x${'ab'.repeat(32)}` },
      latest() {
        return this.block;
      },
      msPerBlock: () => 1_000,
      validityBlocks: 256n,
    };
    const t = setup({ chain, terms: { ticketTtlMs: 600_000 } });
    const params = t.receiver.ticketParams(t.sender.address);
    assert.deepEqual([params.creationRound, params.creationRoundBlockHash], [1_000n, `0x${'ab'.repeat(32)}`]);
    assert.equal(params.expiresAt - 1_000_000, 128_000, 'offered for the 128 blocks tickets are taken in, at 1 s a block');
    const payment = await t.pay(10n);
    chain.block = { number: 1_128n, hash: `0x${'cd'.repeat(32)}` };
    assert.equal((await t.receiver.accept(payment, 20n)).tickets, 1, '128 blocks old: taken');
    chain.block = { number: 1_129n, hash: `0x${'cd'.repeat(32)}` };
    t.payer.invalidate(t.url);
    const late = { ...payment, tickets: [{ senderNonce: 7, signature: signTicket(ticketOf(payment, 7), t.sender.privateKey) }] };
    await assert.rejects(t.receiver.accept(late, 20n), refusal('expired'), 'past half the window: the redemption might not land in time');
    chain.block = null;
    assert.throws(() => t.receiver.ticketParams(t.sender.address), { code: 'UNAVAILABLE' });
  });

  it('on chain, refuses tickets not bound to a block, even with parameters it issued off chain', async () => {
    // The same node (key and secret) before and after it moved to settling on chain.
    const identity = identityFromPrivateKey(randomBytes(32));
    const secret = new Uint8Array(randomBytes(32));
    const queue = new RedemptionQueue(':memory:');
    const before = new PaymentReceiver({ identity, terms, funds: async () => 10n ** 18n, queue, secret });
    const chain: ChainTime = { latest: () => ({ number: 5n, hash: `0x${'ab'.repeat(32)}` }), msPerBlock: () => null, validityBlocks: 256n };
    const after = new PaymentReceiver({ identity, terms, funds: async () => 10n ** 18n, queue, secret, chain });
    const sender = identityFromPrivateKey(randomBytes(32));
    const payer = new PaymentSender({ identity: sender, maxPricePerPixel: 10n, ticketParams: async (_url, who) => ticketParamsToJson(before.ticketParams(who)) });
    const unbound = decodePayment((await payer.pay('http://t.test', 10n))!.header);
    await assert.rejects(after.accept(unbound, 20n), (err: Error) => refusal('invalid_params')(err) && /must be bound to a block/.test(err.message));
  });
});
