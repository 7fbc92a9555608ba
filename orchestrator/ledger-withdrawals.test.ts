// Withdrawals of earnings: only the account's key moves them, once, within the clock window and the earnings;
// a refused request leaves every balance as it was.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { silentLogger } from '../observability/logger.ts';
import { CastnetError } from '../protocol/errors.ts';
import { identityFromPrivateKey } from '../protocol/identity.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import { MAX_WIN_PROB, signTicket, toHex, type Ticket } from '../protocol/ticket.ts';
import { withdrawalRequest, type Withdrawal } from '../protocol/withdrawal.ts';
import { Ledger } from './ledger.ts';
import { createOrchestrator } from './orchestrator.ts';

const dir = mkdtempSync(join(tmpdir(), 'castnet-withdrawals-'));
const sender = identityFromPrivateKey(randomBytes(32));
const earner = identityFromPrivateKey(randomBytes(32));
const payee = `0x${'bb'.repeat(20)}`;
const T0 = 1_800_000_000_000;

/** A ledger where `earner` has earned `amount` through one redeemed ticket. */
function ledgerWithEarnings(amount: bigint, clock = { now: T0 }): Ledger {
  const ledger = new Ledger(':memory:', { now: () => clock.now });
  ledger.fund(sender.address, amount);
  const recipientRand = randomBytes(32);
  const ticket: Ticket = { recipient: earner.address, sender: sender.address, faceValue: amount, winProb: MAX_WIN_PROB, senderNonce: 1, recipientRandHash: toHex(keccak_256(recipientRand)), creationRound: 0n, creationRoundBlockHash: `0x${'00'.repeat(32)}` };
  ledger.redeem(ticket, signTicket(ticket, sender.privateKey), new Uint8Array(recipientRand));
  return ledger;
}

const withdrawal = (amount: bigint, timestamp = T0): Withdrawal => ({ address: earner.address, amount, to: payee, timestamp });
const signed = (w: Withdrawal, key = earner.privateKey) => Buffer.from(withdrawalRequest(w, key).signature.slice(2), 'hex');

describe('ledger withdrawals', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('moves earnings out and records the withdrawal', () => {
    const ledger = ledgerWithEarnings(1_000n);
    const w = withdrawal(400n);
    const account = ledger.withdraw(w, signed(w));
    assert.deepEqual([account.earned, account.withdrawn], [1_000n, 400n]);
    assert.deepEqual(ledger.withdrawals(earner.address).map((r) => [r.amount, r.to, r.timestamp]), [[400n, payee, T0]]);
  });

  it('refuses a forged signature, a replay, an over-withdrawal and a stale timestamp, leaving balances unchanged', () => {
    const clock = { now: T0 };
    const ledger = ledgerWithEarnings(1_000n, clock);
    const first = withdrawal(600n);
    ledger.withdraw(first, signed(first));
    const before = ledger.accounts();
    const refusal = (w: Withdrawal, signature: Uint8Array) => {
      try {
        ledger.withdraw(w, signature);
      } catch (err) {
        assert.ok(err instanceof CastnetError);
        return [err.code, err.context['reason']];
      }
      assert.fail('the withdrawal was accepted');
    };
    const forged = withdrawal(100n, T0 + 1);
    assert.deepEqual(refusal(forged, signed(forged, randomBytes(32))), ['SIGNATURE_INVALID', 'bad_signature']);
    assert.deepEqual(refusal(first, signed(first)), ['ALREADY_REDEEMED', 'replay']);
    const over = withdrawal(401n, T0 + 2);
    assert.deepEqual(refusal(over, signed(over)), ['INSUFFICIENT_FUNDS', 'exceeds_earnings']);
    clock.now = T0 + 61_000;
    const stale = withdrawal(100n, T0 + 3);
    assert.deepEqual(refusal(stale, signed(stale)), ['SIGNATURE_INVALID', 'stale_timestamp']);
    assert.deepEqual(ledger.accounts(), before);
    assert.equal(ledger.withdrawals(earner.address).length, 1);
  });

  it('refuses a signature over other fields than the ones sent (a changed destination)', () => {
    const ledger = ledgerWithEarnings(1_000n);
    const w = withdrawal(100n);
    assert.throws(() => ledger.withdraw({ ...w, to: `0x${'cc'.repeat(20)}` }, signed(w)), { code: 'SIGNATURE_INVALID' });
  });

  it('over HTTP: withdraws with the signed request, refuses it replayed and an amount beyond uint256, and shows withdrawn', async () => {
    const orchestrator = await createOrchestrator({ httpPort: 0, dataDir: join(dir, 'http') }, { logger: silentLogger });
    await orchestrator.start();
    try {
      const client = new OrchestratorClient(orchestrator.url);
      await new OrchestratorClient(orchestrator.url, { identity: orchestrator.operator }).deposit(sender.address, 500n);
      const recipientRand = randomBytes(32);
      const ticket: Ticket = { recipient: earner.address, sender: sender.address, faceValue: 500n, winProb: MAX_WIN_PROB, senderNonce: 9, recipientRandHash: toHex(keccak_256(recipientRand)), creationRound: 0n, creationRoundBlockHash: `0x${'00'.repeat(32)}` };
      await client.redeem({ ticket: { ...ticket, faceValue: '500', winProb: MAX_WIN_PROB.toString(), creationRound: '0' }, signature: toHex(signTicket(ticket, sender.privateKey)), recipientRand: toHex(recipientRand) });
      const request = withdrawalRequest({ address: earner.address, amount: 200n, to: payee, timestamp: Date.now() }, earner.privateKey);
      const answer = await client.withdraw(request);
      assert.deepEqual([answer.withdrawn, answer.withdrawable], ['200', '300']);
      await assert.rejects(client.withdraw(request), (err: CastnetError) => err.code === 'ALREADY_REDEEMED' && err.context['reason'] === 'replay');
      const huge = await fetch(`${orchestrator.url}/api/ledger/withdrawals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...request, amount: (1n << 256n).toString() }) });
      assert.equal(huge.status, 400);
      const account = await client.account(earner.address);
      assert.deepEqual([account.earned, account.withdrawn], ['500', '200']);
    } finally {
      await orchestrator.stop();
    }
  });
});
