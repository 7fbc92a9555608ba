// The redemption queue against a real anvil chain: winners redeemed in batches once confirmed, refusals kept
// with the chain's reason and never retried, the gas-price ceiling, a stuck transaction replaced, a nonce
// taken by another transaction, and crashes at each step (after the journal entry, after the broadcast)
// ending with every ticket redeemed exactly once.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { identityFromPrivateKey, type Identity } from '../protocol/identity.ts';
import { MAX_WIN_PROB, signTicket, ticketHash, toHex, type Ticket } from '../protocol/ticket.ts';
import { ChainRedeemer } from '../settlement/chain-redeemer.ts';
import { startDevChain, type DevChain } from '../settlement/dev-chain.ts';
import { RedemptionQueue } from '../settlement/redemption-queue.ts';

const ETH = 10n ** 18n;
const dir = mkdtempSync(join(tmpdir(), 'castnet-chain-queue-'));
let chain: DevChain;
let sender: Identity;

beforeAll(async () => {
  chain = await startDevChain();
  sender = identityFromPrivateKey(randomBytes(32));
  await chain.fund(sender.address, ETH, 0n);
});

afterAll(async () => {
  await chain?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A recipient with gas money, its queue and its redeemer. */
async function recipientSetup(options: { confirmations?: number; maxGasPriceWei?: bigint; receiptWaitMs?: number; replaceAfterMs?: number; now?: () => number; file?: string; identity?: Identity } = {}) {
  const identity = options.identity ?? identityFromPrivateKey(randomBytes(32));
  if (!options.identity) await chain.sendEth(identity.address, ETH);
  // The queue's clock runs ahead on demand (later()), so a retry's backoff passes without sleeping.
  let skew = 0;
  const queue = new RedemptionQueue(options.file ?? ':memory:', { now: () => (options.now ?? Date.now)() + skew });
  const redeemer = new ChainRedeemer({
    client: chain.client(identity),
    maxBatch: 10,
    confirmations: options.confirmations ?? 1,
    maxGasPriceWei: options.maxGasPriceWei ?? 100n * 10n ** 9n,
    receiptWaitMs: options.receiptWaitMs ?? 10_000,
    replaceAfterMs: options.replaceAfterMs ?? 60_000,
    ...(options.now ? { now: options.now } : {}),
  });
  return { identity, queue, redeemer, later: () => (skew += 61_000) };
}

let nonce = 0;

async function makeWinners(recipient: string, count: number, winProb = MAX_WIN_PROB) {
  const block = await chain.client().latestBlock();
  return Array.from({ length: count }, () => {
    const rand = new Uint8Array(randomBytes(32));
    const ticket: Ticket = { recipient, sender: sender.address, faceValue: 1_000n, winProb, senderNonce: nonce++, recipientRandHash: toHex(keccak_256(rand)), creationRound: block.number, creationRoundBlockHash: block.hash };
    return { ticket, signature: signTicket(ticket, sender.privateKey), rand };
  });
}

async function addWinners(queue: RedemptionQueue, recipient: string, count: number, winProb = MAX_WIN_PROB): Promise<string[]> {
  return (await makeWinners(recipient, count, winProb)).map((w) => {
    const hash = queue.add(w.ticket, w.signature, w.rand);
    assert.equal(hash, toHex(ticketHash(w.ticket)));
    return hash;
  });
}

/** How many times the chain says each ticket was redeemed. */
async function redemptionsOnChain(hashes: string[]): Promise<number[]> {
  const events = await chain.client().redemptionLogs({});
  return hashes.map((h) => events.filter((e) => e.outcome === 'redeemed' && e.ticketHash === h).length);
}

describe('redemption queue on chain', () => {
  it('redeems winners in batches, counts them paid once confirmed, and keeps a refusal with the chain reason', async () => {
    const r = await recipientSetup({ confirmations: 3, receiptWaitMs: 300 });
    const winners = await addWinners(r.queue, r.identity.address, 12);
    const [loser] = await addWinners(r.queue, r.identity.address, 1, 0n);
    // Not yet confirmed: the first batch is in flight, nothing counts as paid.
    assert.deepEqual(await r.queue.drain(r.redeemer), []);
    assert.deepEqual(r.queue.counts(), { pending: 3, sent: 10 });
    await chain.mine(2);
    const first = await r.queue.drain(r.redeemer);
    assert.equal(first.filter((x) => x.outcome === 'redeemed').length, 10);
    // The second batch: two winners and the loser, refused with the chain's reason.
    await r.queue.drain(r.redeemer);
    await chain.mine(2);
    const second = await r.queue.drain(r.redeemer);
    assert.deepEqual(second.map((x) => x.outcome).sort(), ['failed', 'redeemed', 'redeemed']);
    assert.deepEqual(r.queue.winner(loser!)!.lastError, 'CHAIN_REFUSED: ticket did not win');
    assert.deepEqual(await r.queue.drain(r.redeemer), [], 'a refused ticket is never sent again');
    assert.deepEqual(await redemptionsOnChain(winners), winners.map(() => 1));
    assert.deepEqual(await chain.client().recipient(r.identity.address), { earned: 12_000n, withdrawn: 0n });
    assert.equal(r.queue.winner(winners[0]!)!.paid, 1_000n);
    await r.queue.close();
  });

  it('holds winners while gas costs more than the ceiling, sending nothing', async () => {
    const r = await recipientSetup({ maxGasPriceWei: 1n });
    await addWinners(r.queue, r.identity.address, 2);
    const results = await r.queue.drain(r.redeemer);
    assert.deepEqual(results.map((x) => x.outcome), ['retry', 'retry']);
    assert.match(results[0]!.error!, /above the ceiling of 1 wei/);
    assert.equal(await chain.client(r.identity).pendingNonce(), 0, 'no transaction was sent');
    await r.queue.close();
  });

  it("waits with the node's reason while the recipient's key has no gas money, and redeems once it has", async () => {
    const poor = identityFromPrivateKey(randomBytes(32));
    const r = await recipientSetup({ identity: poor });
    const winners = await addWinners(r.queue, poor.address, 2);
    const results = await r.queue.drain(r.redeemer);
    assert.deepEqual(results.map((x) => x.outcome), ['retry', 'retry']);
    assert.match(results[0]!.error!, /insufficient funds|gas/i);
    await chain.sendEth(poor.address, ETH);
    r.later();
    assert.deepEqual((await r.queue.drain(r.redeemer)).map((x) => x.outcome), ['redeemed', 'redeemed']);
    assert.deepEqual(await redemptionsOnChain(winners), [1, 1]);
    await r.queue.close();
  });

  it('after a crash between the broadcast and the receipt, learns the outcome from the chain: redeemed once', async () => {
    const file = join(dir, 'crash-after-broadcast.sqlite');
    const before = await recipientSetup({ file, receiptWaitMs: 200 });
    const winners = await addWinners(before.queue, before.identity.address, 3);
    await chain.test.setAutomine(false);
    try {
      assert.deepEqual(await before.queue.drain(before.redeemer), [], 'sent, not mined');
      await before.queue.close(); // the process dies here
    } finally {
      await chain.test.setAutomine(true);
    }
    await chain.mine(1);
    const after = await recipientSetup({ file, identity: before.identity });
    const results = await after.queue.drain(after.redeemer);
    assert.deepEqual(results.map((x) => x.outcome), ['redeemed', 'redeemed', 'redeemed']);
    assert.deepEqual(await redemptionsOnChain(winners), [1, 1, 1]);
    await after.queue.close();
  });

  it('after a crash between the journal entry and the broadcast, sends the tickets again: redeemed once', async () => {
    const file = join(dir, 'crash-before-broadcast.sqlite');
    const before = await recipientSetup({ file });
    const winners = await addWinners(before.queue, before.identity.address, 2);
    // What the journal holds when the process died right after recording a signed transaction.
    const client = chain.client(before.identity);
    before.queue.sent(winners, { hash: toHex(randomBytes(32)), raw: '0x00', nonce: 0, gas: 100_000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, sentAt: Date.now() });
    await before.queue.close();
    const after = await recipientSetup({ file, identity: before.identity });
    assert.deepEqual((await after.queue.drain(after.redeemer)).map((x) => x.outcome), ['retry', 'retry'], 'the transaction never reached the chain');
    assert.equal(await client.pendingNonce(), 0);
    after.later();
    assert.deepEqual((await after.queue.drain(after.redeemer)).map((x) => x.outcome), ['redeemed', 'redeemed']);
    assert.deepEqual(await redemptionsOnChain(winners), [1, 1]);
    await after.queue.close();
  });

  it('counts a ticket someone else redeemed first as paid, from the earlier event, not as refused', async () => {
    const r = await recipientSetup();
    const stranger = await recipientSetup();
    const [w] = await makeWinners(r.identity.address, 1);
    const hash = r.queue.add(w!.ticket, w!.signature, w!.rand);
    // A stranger who saw the revealed ticket submits it first (it still pays its recipient).
    stranger.queue.add(w!.ticket, w!.signature, w!.rand);
    assert.deepEqual((await stranger.queue.drain(stranger.redeemer)).map((x) => x.outcome), ['redeemed']);
    const results = await r.queue.drain(r.redeemer);
    assert.deepEqual(results.map((x) => [x.outcome, x.paid]), [['redeemed', 1_000n]]);
    assert.deepEqual(await redemptionsOnChain([hash]), [1]);
    await Promise.all([r.queue.close(), stranger.queue.close()]);
  });

  it('replaces a transaction that sits unmined with higher fees at the same nonce, and settles whichever lands', async () => {
    let now = Date.now();
    const r = await recipientSetup({ receiptWaitMs: 200, replaceAfterMs: 5_000, now: () => now });
    const winners = await addWinners(r.queue, r.identity.address, 2);
    await chain.test.setAutomine(false);
    try {
      assert.deepEqual(await r.queue.drain(r.redeemer), []);
      now += 6_000;
      assert.deepEqual(await r.queue.drain(r.redeemer), [], 'replaced, still unmined');
      const txs = r.queue.batches()[0]!.transactions;
      assert.equal(txs.length, 2);
      assert.equal(txs[0]!.nonce, txs[1]!.nonce);
      assert.ok(txs[1]!.maxFeePerGas > txs[0]!.maxFeePerGas);
      await chain.mine(1);
    } finally {
      await chain.test.setAutomine(true);
    }
    assert.deepEqual((await r.queue.drain(r.redeemer)).map((x) => x.outcome), ['redeemed', 'redeemed']);
    assert.deepEqual(await redemptionsOnChain(winners), [1, 1]);
    await r.queue.close();
  });

  it('re-reads its nonce when another transaction from its key took it, and redeems after', async () => {
    const r = await recipientSetup();
    const first = await addWinners(r.queue, r.identity.address, 1);
    await r.queue.drain(r.redeemer); // the redeemer now counts nonce 1 as next
    await chain.client(r.identity).transfer(chain.funder.address, 1n); // the operator spends nonce 1 elsewhere
    const second = await addWinners(r.queue, r.identity.address, 1);
    await r.queue.drain(r.redeemer);
    for (let i = 0; i < 5 && r.queue.counts()['redeemed'] !== 2; i++) {
      r.later();
      await r.queue.drain(r.redeemer);
    }
    assert.equal(r.queue.counts()['redeemed'], 2);
    assert.deepEqual(await redemptionsOnChain([...first, ...second]), [1, 1]);
    await r.queue.close();
  });
});
