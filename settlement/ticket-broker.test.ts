// The TicketBroker contract on a real anvil chain: funding, redemption of winners (one and in batches),
// every refusal with the chain's reason, double redemption (also two transactions racing in one block),
// expiry through the creation block and its hash, the per-recipient reserve rule (the same answers as the
// embedded ledger), unlock and withdraw, earnings withdrawal, and protocol/vectors/tickets.json read and
// redeemed on chain with the TypeScript code's hash, signer and win verdict.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { encodeFunctionData } from 'viem';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { Ledger } from '../orchestrator/ledger.ts';
import { identityFromPrivateKey, type Identity } from '../protocol/identity.ts';
import { ticketJsonSchema } from '../protocol/redemption.ts';
import { MAX_WIN_PROB, fromHex, isWinningTicket, recoverSigner, signTicket, ticketHash, toHex, type Ticket } from '../protocol/ticket.ts';
import { BrokerClient, ticketStruct, type BlockRef, type ChainWinner, type Hex } from './broker-client.ts';
import { startDevChain, type DevChain } from './dev-chain.ts';
import { brokerAbi } from './ticket-broker-artifact.ts';

const VALIDITY_BLOCKS = 20n;
const UNLOCK_BLOCKS = 10n;
const RESERVE_RECIPIENTS = 4n;
const ETH = 10n ** 18n;

let chain: DevChain;
let redeemer: BrokerClient;
let reader: BrokerClient;

beforeAll(async () => {
  chain = await startDevChain({ broker: { unlockPeriod: UNLOCK_BLOCKS, ticketValidityBlocks: VALIDITY_BLOCKS, reserveRecipients: RESERVE_RECIPIENTS } });
  redeemer = chain.client(chain.accounts[0]);
  reader = chain.client();
});

afterAll(async () => {
  await chain?.stop();
});

const newKey = () => identityFromPrivateKey(randomBytes(32));
const newAddress = () => newKey().address;

async function winner(o: { sender: Identity; recipient: string; faceValue: bigint; winProb?: bigint; nonce?: number; block?: BlockRef; recipientRand?: Uint8Array }): Promise<ChainWinner> {
  const block = o.block ?? (await reader.latestBlock());
  const recipientRand = o.recipientRand ?? new Uint8Array(randomBytes(32));
  const ticket: Ticket = {
    recipient: o.recipient,
    sender: o.sender.address,
    faceValue: o.faceValue,
    winProb: o.winProb ?? MAX_WIN_PROB,
    senderNonce: o.nonce ?? 0,
    recipientRandHash: toHex(keccak_256(recipientRand)),
    creationRound: block.number,
    creationRoundBlockHash: block.hash,
  };
  return { ticket, signature: signTicket(ticket, o.sender.privateKey), recipientRand };
}

async function redeem(w: ChainWinner, by: BrokerClient = redeemer) {
  const receipt = await by.sendTransaction({ to: chain.broker, data: BrokerClient.redeemOneData(w) }, 'redeeming a ticket');
  return by.redemptionEvents(receipt.logs);
}

async function redeemBatch(winners: ChainWinner[], by: BrokerClient = redeemer) {
  const receipt = await by.sendTransaction({ to: chain.broker, data: BrokerClient.redeemBatchData(winners) }, 'redeeming tickets');
  return { events: by.redemptionEvents(receipt.logs), gasUsed: receipt.gasUsed };
}

async function refusal(w: ChainWinner): Promise<string> {
  try {
    await redeem(w);
  } catch (err) {
    return String((err as { context?: { reason?: string } }).context?.reason);
  }
  throw new Error('the redemption was not refused');
}

async function funded(deposit: bigint, reserve: bigint): Promise<Identity> {
  const sender = newKey();
  await chain.fund(sender.address, deposit, reserve);
  return sender;
}

describe('TicketBroker on anvil', () => {
  it('funds a deposit and a reserve, with an event for each, and refuses a value that is not their sum', async () => {
    const sender = newKey();
    await chain.sendEth(sender.address, ETH);
    const own = chain.client(sender);
    const receipt = await own.fund(1_000n, 400n);
    const events = (await reader.events(receipt.blockNumber, receipt.blockNumber)).map((e) => e.eventName);
    assert.deepEqual(events, ['DepositFunded', 'ReserveFunded']);
    assert.deepEqual(await reader.sender(sender.address), { deposit: 1_000n, reserve: 400n, reserveClaimed: 0n, withdrawBlock: 0n });
    await assert.rejects(own.sendTransaction({ to: chain.broker, data: encodeFund(10n, 10n), value: 5n }, 'funding'), refusedWith('msg.value is not deposit + reserve'));
  });

  it('redeems a winner: the face value moves from the deposit to the recipient, with an event', async () => {
    const sender = await funded(1_000n, 0n);
    const recipient = newAddress();
    const w = await winner({ sender, recipient, faceValue: 300n });
    const [event] = await redeem(w);
    assert.deepEqual(event && { ...event, blockNumber: 0n, txHash: '0x' }, { ticketHash: toHex(ticketHash(w.ticket)), sender: sender.address, recipient, outcome: 'redeemed', faceValue: 300n, paid: 300n, fromReserve: 0n, blockNumber: 0n, txHash: '0x' });
    assert.equal((await reader.sender(sender.address)).deposit, 700n);
    assert.deepEqual(await reader.recipient(recipient), { earned: 300n, withdrawn: 0n });
    assert.equal(await reader.used(toHex(ticketHash(w.ticket))), true);
  });

  it('refuses a loser, a wrong recipientRand, a forged signature, a high-s twin and a redeemed ticket, each with its reason', async () => {
    const sender = await funded(1_000n, 0n);
    const recipient = newAddress();
    assert.equal(await refusal(await winner({ sender, recipient, faceValue: 10n, winProb: 0n })), 'ticket did not win');
    const w = await winner({ sender, recipient, faceValue: 10n, nonce: 1 });
    assert.equal(await refusal({ ...w, recipientRand: new Uint8Array(randomBytes(32)) }), 'recipientRand does not match recipientRandHash');
    assert.equal(await refusal({ ...w, signature: signTicket(w.ticket, randomBytes(32)) }), "signature is not the sender's");
    const twin = Uint8Array.from(w.signature);
    const s = BigInt(toHex(w.signature.subarray(32, 64)));
    twin.set(hexToBytes((0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n - s).toString(16).padStart(64, '0')), 32);
    twin[64] = w.signature[64] === 27 ? 28 : 27;
    assert.equal(await refusal({ ...w, signature: twin }), "signature is not the sender's", 'the malleable twin that would re-roll the draw');
    await redeem(w);
    assert.equal(await refusal(w), 'ticket already redeemed');
    assert.equal((await reader.sender(sender.address)).deposit, 990n, 'only the one redemption moved money');
  });

  it('lets one of two transactions racing to redeem a ticket in the same block win, singly and in batches', async () => {
    const sender = await funded(1_000n, 0n);
    const recipient = newAddress();
    const single = await winner({ sender, recipient, faceValue: 100n, nonce: 1 });
    const batched = await winner({ sender, recipient, faceValue: 100n, nonce: 2 });
    const a = chain.client(chain.accounts[1]);
    const b = chain.client(chain.accounts[2]);
    await chain.test.setAutomine(false);
    try {
      const fees = await a.fees();
      const txs: Hex[] = [];
      for (const [client, data] of [
        [a, BrokerClient.redeemOneData(single)],
        [b, BrokerClient.redeemOneData(single)],
        [a, BrokerClient.redeemBatchData([batched])],
        [b, BrokerClient.redeemBatchData([batched])],
      ] as const) {
        // Each account's second transaction takes the next nonce: both of its transactions wait in the pool.
        const nonce = (await client.pendingNonce());
        const signed = await client.signTransaction({ to: chain.broker, data, nonce, fees, gas: 300_000n }, 'racing');
        await client.broadcast(signed.raw, 'racing');
        txs.push(signed.hash);
      }
      await chain.mine(1);
      const receipts = await Promise.all(txs.map((h) => reader.receipt(h, 1, 10_000)));
      assert.equal(new Set(receipts.map((r) => r!.blockNumber)).size, 1, 'all four in one block');
      const [singleA, singleB, batchA, batchB] = receipts.map((r) => ({ status: r!.status, events: reader.redemptionEvents(r!.logs) }));
      assert.deepEqual([singleA!.status, singleB!.status], ['success', 'reverted'], 'the second single redemption reverts');
      assert.deepEqual(batchA!.events.map((e) => e.outcome), ['redeemed']);
      assert.deepEqual(batchB!.events.map((e) => (e.outcome === 'refused' ? e.reason : e.outcome)), ['ticket already redeemed'], 'the second batch skips it, saying why');
    } finally {
      await chain.test.setAutomine(true);
    }
    assert.equal((await reader.sender(sender.address)).deposit, 800n);
    assert.equal((await reader.recipient(recipient)).earned, 200n);
  });

  it('expires tickets: refused past the validity window, with a wrong block hash, without a creation block or one not yet past', async () => {
    const sender = await funded(1_000n, 0n);
    const recipient = newAddress();
    const old = await winner({ sender, recipient, faceValue: 10n });
    const edge = await winner({ sender, recipient, faceValue: 10n, nonce: 1, block: await reader.latestBlock() });
    // The redemption lands in the next block: creation + validity is the last block a ticket is good in.
    await chain.mine(Number(VALIDITY_BLOCKS) - 1);
    await redeem(edge);
    assert.equal(await refusal(old), 'ticket expired');
    const latest = await reader.latestBlock();
    assert.equal(await refusal(await winner({ sender, recipient, faceValue: 10n, nonce: 2, block: { ...latest, hash: toHex(randomBytes(32)) as Hex } })), 'ticket creation block hash does not match the chain');
    assert.equal(await refusal(await winner({ sender, recipient, faceValue: 10n, nonce: 3, block: { number: 0n, hash: `0x${'00'.repeat(32)}`, timestamp: 0n } })), 'ticket has no creation block');
    assert.equal(await refusal(await winner({ sender, recipient, faceValue: 10n, nonce: 4, block: { ...latest, number: latest.number + 5n } })), 'ticket creation block is not in the past');
  });

  it('splits the reserve per recipient, exactly as the embedded ledger does', async () => {
    // The same sequence through the contract and the ledger: every payout, refusal and balance agrees.
    const sender = await funded(100n, 400n);
    const ledger = new Ledger(':memory:', { reserveRecipients: RESERVE_RECIPIENTS });
    ledger.fund(sender.address, 100n, 400n);
    const [r1, r2, r3, r4, r5] = [newAddress(), newAddress(), newAddress(), newAddress(), newAddress()];
    const steps: Array<{ recipient: string; faceValue: bigint } | { topUp: bigint }> = [
      { recipient: r1, faceValue: 250n }, // 100 from the deposit, then r1's allocation of 400 / 4 = 100
      { recipient: r1, faceValue: 5n }, // r1's allocation is claimed: refused, not spent
      { recipient: r2, faceValue: 60n }, // all from r2's allocation
      { recipient: r2, faceValue: 60n }, // the 40 left of it
      { recipient: r3, faceValue: 1_000n }, // a huge face value takes r3's 100 and no more
      { recipient: r4, faceValue: 100n },
      { recipient: r5, faceValue: 100n }, // the reserve is gone: four allocations, a fifth recipient gets nothing
      { topUp: 200n }, // (0 left + 400 claimed + 200) / 4 = 150 each
      { recipient: r1, faceValue: 80n }, // r1 took 100 of 150: 50
      { recipient: r5, faceValue: 80n },
    ];
    let nonce = 0;
    for (const step of steps) {
      if ('topUp' in step) {
        await chain.fund(sender.address, 0n, step.topUp);
        ledger.fund(sender.address, 0n, step.topUp);
        continue;
      }
      const w = await winner({ sender, recipient: step.recipient, faceValue: step.faceValue, nonce: nonce++ });
      let onLedger: string;
      try {
        const r = ledger.redeem(w.ticket, w.signature, w.recipientRand);
        onLedger = `paid ${r.paid} from reserve ${r.fromReserve}`;
      } catch (err) {
        onLedger = `refused ${(err as { code: string }).code}`;
      }
      const [event] = await redeemBatch([w]).then((r) => r.events);
      const onChain = event!.outcome === 'redeemed' ? `paid ${event!.paid} from reserve ${event!.fromReserve}` : `refused ${event!.reason === 'sender cannot pay this recipient: deposit empty and reserve allocation claimed' ? 'INSUFFICIENT_FUNDS' : event!.reason}`;
      assert.equal(onChain, onLedger, `${step.faceValue} to ${step.recipient.slice(0, 6)}`);
    }
    const onChain = await reader.sender(sender.address);
    const a = ledger.account(sender.address);
    assert.deepEqual({ deposit: onChain.deposit, reserve: onChain.reserve, reserveClaimed: onChain.reserveClaimed }, { deposit: a.deposit, reserve: a.reserve, reserveClaimed: a.reserveClaimed });
    for (const r of [r1, r2, r3, r4, r5]) {
      assert.equal((await reader.recipient(r)).earned, ledger.account(r).earned);
      assert.equal(await reader.claimableReserve(sender.address, r), ledger.claimableReserve(sender.address, r));
      assert.equal(await reader.payableTo(sender.address, r), ledger.payableTo(sender.address, r));
    }
    assert.deepEqual([(await reader.recipient(r1)).earned, (await reader.recipient(r3)).earned, (await reader.recipient(r5)).earned], [250n, 100n, 80n]);
    ledger.close();
  });

  it('unlocks and withdraws after the unlock period, tickets redeemable during it and refused after; funding cancels the unlock', async () => {
    const sender = newKey();
    await chain.sendEth(sender.address, ETH);
    const own = chain.client(sender);
    await own.fund(500n, 100n);
    const recipient = newAddress();
    await assert.rejects(own.withdraw(), refusedWith('no unlock in progress'));
    const unlocked = await own.unlock();
    const withdrawBlock = (await reader.sender(sender.address)).withdrawBlock;
    assert.equal(withdrawBlock, unlocked.blockNumber + UNLOCK_BLOCKS);
    await redeem(await winner({ sender, recipient, faceValue: 50n }));
    await assert.rejects(own.withdraw(), refusedWith('unlock period is not over'));
    // Funding one's own account cancels the unlock; a new one starts the period again.
    await own.fund(10n, 0n);
    assert.equal((await reader.sender(sender.address)).withdrawBlock, 0n);
    await own.unlock();
    const late = await winner({ sender, recipient, faceValue: 50n, nonce: 1 });
    await chain.mine(Number(UNLOCK_BLOCKS));
    assert.equal(await refusal(late), 'sender is unlocked');
    assert.equal(await reader.payableTo(sender.address, recipient), 0n);
    const before = await reader.balance(sender.address);
    const receipt = await own.withdraw();
    const gasCost = receipt.gasUsed * receipt.effectiveGasPrice;
    assert.equal(await reader.balance(sender.address), before - gasCost + 460n + 100n, 'the deposit left (500 + 10 - 50) and the reserve come back');
    assert.deepEqual(await reader.sender(sender.address), { deposit: 0n, reserve: 0n, reserveClaimed: 0n, withdrawBlock: 0n });
    const events = (await reader.events(receipt.blockNumber, receipt.blockNumber)).map((e) => [e.eventName, e.args['deposit'], e.args['reserve']]);
    assert.deepEqual(events, [['Withdrawal', 460n, 100n]]);
  });

  it("lets a recipient withdraw its earnings, no more than it earned, and a stranger's funding does not cancel an unlock", async () => {
    const sender = await funded(1_000n, 0n);
    const recipient = newKey();
    await chain.sendEth(recipient.address, ETH);
    await redeem(await winner({ sender, recipient: recipient.address, faceValue: 700n }));
    const own = chain.client(recipient);
    const to = newAddress();
    await assert.rejects(own.withdrawEarnings(to, 701n), refusedWith('amount exceeds the earnings not yet withdrawn'));
    await own.withdrawEarnings(to, 600n);
    assert.equal(await reader.balance(to), 600n);
    assert.deepEqual(await reader.recipient(recipient.address), { earned: 700n, withdrawn: 600n });

    const unlocking = newKey();
    await chain.sendEth(unlocking.address, ETH);
    await chain.client(unlocking).fund(10n, 0n);
    await chain.client(unlocking).unlock();
    await chain.fund(unlocking.address, 1n, 0n);
    assert.notEqual((await reader.sender(unlocking.address)).withdrawBlock, 0n);
  });

  it('redeems a batch ticket by ticket: refused ones are skipped with their reason, the rest are paid', async () => {
    const sender = await funded(1_000n, 0n);
    const recipient = newAddress();
    const good = await winner({ sender, recipient, faceValue: 10n, nonce: 1 });
    const loser = await winner({ sender, recipient, faceValue: 10n, nonce: 2, winProb: 0n });
    const alsoGood = await winner({ sender, recipient, faceValue: 20n, nonce: 3 });
    const { events } = await redeemBatch([good, loser, good, alsoGood]);
    assert.deepEqual(
      events.map((e) => (e.outcome === 'refused' ? e.reason : `paid ${e.paid}`)),
      ['paid 10', 'ticket did not win', 'ticket already redeemed', 'paid 20'],
    );
  });
});

describe('the ticket vectors on chain', () => {
  const vectors = JSON.parse(readFileSync(new URL('../protocol/vectors/tickets.json', import.meta.url), 'utf8')) as {
    privateKey: string;
    sender: string;
    cases: Array<{ name: string; ticket: unknown; hash: string; signature: string; recipientRand: string; wins: boolean }>;
  };
  const vectorKey = identityFromPrivateKey(hexToBytes(vectors.privateKey.slice(2)));

  for (const v of vectors.cases) {
    it(`reads "${v.name}" as TypeScript does (hash, signer, win) and pays it bound to a real block exactly when it wins`, async () => {
      const ticket = ticketJsonSchema.parse(v.ticket);
      const signature = fromHex(v.signature, 65);
      const rand = fromHex(v.recipientRand, 32);
      const onChain = {
        hash: await reader.chain.readContract({ address: chain.broker, abi: brokerAbi, functionName: 'ticketHash', args: [ticketStruct(ticket)] }),
        signer: (await reader.chain.readContract({ address: chain.broker, abi: brokerAbi, functionName: 'signerOf', args: [v.hash as Hex, v.signature as Hex] })).toLowerCase(),
        wins: await reader.chain.readContract({ address: chain.broker, abi: brokerAbi, functionName: 'isWinningTicket', args: [v.signature as Hex, v.recipientRand as Hex, ticket.winProb] }),
      };
      assert.deepEqual(onChain, { hash: toHex(ticketHash(ticket)), signer: recoverSigner(ticketHash(ticket), signature), wins: isWinningTicket(signature, rand, ticket.winProb) });
      assert.deepEqual(onChain, { hash: v.hash, signer: vectors.sender, wins: v.wins });
      // Redeemed: the vector's fields, with a recipientRandHash that commits to its recipientRand (the
      // vector's is made up) and a real, recent creation block (the broker requires one), signed with the
      // vector's key: paid exactly when TypeScript says the ticket wins, refused "ticket did not win" otherwise.
      await chain.fund(vectorKey.address, ticket.faceValue, 0n);
      const bound = await winner({ sender: vectorKey, recipient: ticket.recipient, faceValue: ticket.faceValue, winProb: ticket.winProb, nonce: ticket.senderNonce, recipientRand: rand });
      const [event] = (await redeemBatch([bound])).events;
      const tsVerdict = isWinningTicket(bound.signature, rand, ticket.winProb);
      assert.equal(event!.outcome === 'redeemed' ? 'redeemed' : event!.reason, tsVerdict ? 'redeemed' : 'ticket did not win');
      assert.equal(event!.ticketHash, toHex(ticketHash(bound.ticket)));
    });
  }

  it('agrees with TypeScript on 40 random tickets at win probability 1/2: hash, signer and whether each is paid', async () => {
    const sender = await funded(10n ** 6n, 0n);
    const recipient = newAddress();
    const block = await reader.latestBlock();
    const winners = await Promise.all(Array.from({ length: 40 }, (_, i) => winner({ sender, recipient, faceValue: 1n + BigInt(i), winProb: MAX_WIN_PROB / 2n, nonce: i, block })));
    const { events } = await redeemBatch(winners);
    assert.equal(events.length, 40);
    for (const [i, w] of winners.entries()) {
      const tsWins = isWinningTicket(w.signature, w.recipientRand, w.ticket.winProb);
      assert.equal(events[i]!.ticketHash, toHex(ticketHash(w.ticket)));
      assert.equal(events[i]!.outcome, tsWins ? 'redeemed' : 'refused', `ticket ${i}`);
    }
    const wins = winners.filter((w) => isWinningTicket(w.signature, w.recipientRand, w.ticket.winProb)).length;
    assert.ok(wins > 5 && wins < 35, `about half win (${wins})`);
  });
});

/** Matches a CHAIN_REFUSED error carrying the chain's revert reason. */
function refusedWith(reason: string) {
  return (err: unknown) => {
    const e = err as { code?: string; context?: { reason?: string } };
    assert.equal(e.code, 'CHAIN_REFUSED', String(err));
    assert.equal(e.context?.reason, reason);
    return true;
  };
}

function encodeFund(deposit: bigint, reserve: bigint): Hex {
  return encodeFunctionData({ abi: brokerAbi, functionName: 'fundDepositAndReserve', args: [deposit, reserve] });
}
