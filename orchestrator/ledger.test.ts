// The ledger redeems a winning ticket once, moves face value from the deposit, then from the recipient's
// allocation of the reserve, and refuses the rest.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { silentLogger } from '../observability/logger.ts';
import { identityFromPrivateKey } from '../protocol/identity.ts';
import { redemptionRequest } from '../protocol/redemption.ts';
import { MAX_WIN_PROB, signTicket, ticketHash, toHex, type Ticket } from '../protocol/ticket.ts';
import { Ledger } from './ledger.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import { createOrchestrator } from './orchestrator.ts';

const dir = mkdtempSync(join(tmpdir(), 'castnet-ledger-'));
const sender = identityFromPrivateKey(randomBytes(32));
const recipient = `0x${'aa'.repeat(20)}`;

function winner(faceValue: bigint, nonce: number, winProb = MAX_WIN_PROB, to = recipient) {
  const recipientRand = randomBytes(32);
  const ticket: Ticket = { recipient: to, sender: sender.address, faceValue, winProb, senderNonce: nonce, recipientRandHash: toHex(keccak_256(recipientRand)), creationRound: 0n, creationRoundBlockHash: `0x${'00'.repeat(32)}` };
  return { ticket, signature: signTicket(ticket, sender.privateKey), recipientRand: new Uint8Array(recipientRand) };
}

describe('ledger', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('moves the face value from the deposit to the recipient, once', () => {
    const ledger = new Ledger(':memory:');
    ledger.fund(sender.address, 1_000n, 500n);
    const w = winner(300n, 1);
    assert.equal(ledger.redeem(w.ticket, w.signature, w.recipientRand).paid, 300n);
    assert.throws(() => ledger.redeem(w.ticket, w.signature, w.recipientRand), { code: 'ALREADY_REDEEMED' });
    assert.deepEqual(ledger.account(sender.address), { address: sender.address, deposit: 700n, reserve: 500n, reserveClaimed: 0n, earned: 0n, spent: 300n, withdrawn: 0n });
    assert.equal(ledger.account(recipient).earned, 300n);
  });

  it("pays from the recipient's allocation of the reserve when the deposit runs short, and refuses when nothing is payable", () => {
    // Three allocations of 100 each: no recipient can take more than a third of the reserve.
    const ledger = new Ledger(':memory:', { reserveRecipients: 3n });
    const other = `0x${'bb'.repeat(20)}`;
    ledger.fund(sender.address, 100n, 300n);
    assert.equal(ledger.payableTo(sender.address, recipient), 200n, 'deposit + one allocation');
    const first = winner(250n, 1);
    assert.deepEqual(ledger.redeem(first.ticket, first.signature, first.recipientRand), { ticketHash: toHex(ticketHash(first.ticket)), paid: 200n, fromReserve: 100n }, 'the deposit, then its allocation');
    const second = winner(50n, 2);
    assert.throws(() => ledger.redeem(second.ticket, second.signature, second.recipientRand), { code: 'INSUFFICIENT_FUNDS' }, 'its allocation is claimed');
    assert.equal(ledger.claimableReserve(sender.address, other), 100n, "another recipient's allocation is untouched");
    const theirs = winner(150n, 3, MAX_WIN_PROB, other);
    assert.equal(ledger.redeem(theirs.ticket, theirs.signature, theirs.recipientRand).paid, 100n);
    // A top-up grows every allocation: (100 left + 200 claimed + 300 new) / 3 = 200 each.
    ledger.fund(sender.address, 0n, 300n);
    assert.equal(ledger.claimableReserve(sender.address, recipient), 100n);
    assert.equal(ledger.redeem(second.ticket, second.signature, second.recipientRand).paid, 50n, 'the refused ticket was not spent: it pays after the top-up');
    assert.equal(ledger.account(recipient).earned, 250n);
    assert.deepEqual(ledger.account(sender.address), { address: sender.address, deposit: 0n, reserve: 350n, reserveClaimed: 250n, earned: 0n, spent: 350n, withdrawn: 0n });
  });

  it('refuses a losing ticket, a wrong recipientRand and a forged signature', () => {
    const ledger = new Ledger(':memory:');
    ledger.fund(sender.address, 1_000n);
    const loser = winner(10n, 1, 0n);
    assert.throws(() => ledger.redeem(loser.ticket, loser.signature, loser.recipientRand), { code: 'TICKET_INVALID', message: 'ticket did not win' });
    const w = winner(10n, 2);
    assert.throws(() => ledger.redeem(w.ticket, w.signature, randomBytes(32)), { code: 'TICKET_INVALID', message: 'recipientRand does not match recipientRandHash' });
    const forged = signTicket(w.ticket, randomBytes(32));
    assert.throws(() => ledger.redeem(w.ticket, forged, w.recipientRand), { code: 'TICKET_INVALID', message: 'signature does not recover to the sender' });
  });

  it('lets exactly one of two racing redemptions of a ticket succeed, across two connections to one file', async () => {
    const file = join(dir, 'race.sqlite');
    const a = new Ledger(file);
    const b = new Ledger(file);
    a.fund(sender.address, 1_000n);
    const w = winner(100n, 7);
    const results = await Promise.allSettled([Promise.resolve().then(() => a.redeem(w.ticket, w.signature, w.recipientRand)), Promise.resolve().then(() => b.redeem(w.ticket, w.signature, w.recipientRand))]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    assert.equal(a.account(sender.address).deposit, 900n);
    a.close();
    b.close();
  });

  it('lets exactly one of ten concurrent HTTP redemptions of a ticket succeed', async () => {
    const orchestrator = await createOrchestrator({ httpPort: 0, dataDir: join(dir, 'http') }, { logger: silentLogger });
    await orchestrator.start();
    try {
      await new OrchestratorClient(orchestrator.url, { identity: orchestrator.operator }).deposit(sender.address, 1_000n);
      const w = winner(100n, 8);
      const body = JSON.stringify(redemptionRequest(w.ticket, w.signature, w.recipientRand));
      const statuses = await Promise.all(
        Array.from({ length: 10 }, () => fetch(`${orchestrator.url}/api/ledger/redemptions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.status)),
      );
      assert.deepEqual(statuses.sort(), [200, ...Array(9).fill(409)]);
      const account = (await (await fetch(`${orchestrator.url}/api/ledger/accounts/${sender.address}`)).json()) as { deposit: string; spent: string };
      assert.deepEqual([account.deposit, account.spent], ['900', '100']);
    } finally {
      await orchestrator.stop();
    }
  });
});
