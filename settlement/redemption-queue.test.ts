// Winning tickets survive a crash, are retried while the ledger is unreachable, and stop on a final refusal.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { identityFromPrivateKey } from '../protocol/identity.ts';
import { CastnetError } from '../protocol/errors.ts';
import { MAX_WIN_PROB, signTicket, toHex, type Ticket } from '../protocol/ticket.ts';
import { perTicketBackend } from './ledger-settlement.ts';
import { RedemptionQueue } from './redemption-queue.ts';

const dir = mkdtempSync(join(tmpdir(), 'castnet-queue-'));
const sender = identityFromPrivateKey(randomBytes(32));

function winner(nonce: number) {
  const ticket: Ticket = { recipient: `0x${'bb'.repeat(20)}`, sender: sender.address, faceValue: 10n, winProb: MAX_WIN_PROB, senderNonce: nonce, recipientRandHash: toHex(randomBytes(32)), creationRound: 0n, creationRoundBlockHash: `0x${'00'.repeat(32)}` };
  return { ticket, signature: signTicket(ticket, sender.privateKey), rand: randomBytes(32) };
}

describe('redemption queue', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps a winner across a crash and redeems it after the restart', async () => {
    const file = join(dir, 'crash.sqlite');
    const before = new RedemptionQueue(file);
    const w = winner(1);
    before.add(w.ticket, w.signature, w.rand);
    await before.close(); // the process dies before redeeming
    const after = new RedemptionQueue(file);
    const seen: string[] = [];
    const results = await after.drain(
      perTicketBackend(async (w) => {
        seen.push(String(w.ticket.senderNonce));
        return 10n;
      }),
    );
    assert.deepEqual(seen, ['1']);
    assert.deepEqual(results.map((r) => r.outcome), ['redeemed']);
    assert.deepEqual(after.counts(), { redeemed: 1 });
    await after.close();
  });

  it('retries with backoff while the ledger is unreachable, and gives up on a final refusal', async () => {
    let now = 0;
    const queue = new RedemptionQueue(':memory:', { now: () => now });
    const a = winner(2);
    const b = winner(3);
    queue.add(a.ticket, a.signature, a.rand);
    queue.add(b.ticket, b.signature, b.rand);
    const unreachable = perTicketBackend(async () => {
      throw new Error('fetch failed');
    });
    assert.deepEqual((await queue.drain(unreachable)).map((r) => r.outcome), ['retry', 'retry']);
    assert.deepEqual(await queue.drain(unreachable), [], 'not retried before the backoff');
    now += 1_000;
    const results = await queue.drain(
      perTicketBackend(async (w) => {
        if (w.ticket.senderNonce === 3) throw new CastnetError('ALREADY_REDEEMED', 'ticket was already redeemed');
        return 10n;
      }),
    );
    assert.deepEqual(results.map((r) => r.outcome), ['redeemed', 'failed']);
    assert.deepEqual(queue.counts(), { failed: 1, redeemed: 1 });
    await queue.close();
  });

  it('settles as paid a winner the ledger redeemed before a crash lost its answer, not as failed', async () => {
    const queue = new RedemptionQueue(':memory:');
    const w = winner(7);
    queue.add(w.ticket, w.signature, w.rand);
    const results = await queue.drain(
      perTicketBackend(async () => {
        throw new CastnetError('ALREADY_REDEEMED', 'ticket was already redeemed', { reason: 'paid_earlier', paid: '42' });
      }),
    );
    assert.deepEqual(results.map((r) => r.outcome), ['redeemed']);
    assert.equal(queue.winner(results[0]!.ticketHash)?.paid, 42n);
    await queue.close();
  });

  it('stores a winner once however often it is added', async () => {
    const queue = new RedemptionQueue(':memory:');
    const w = winner(4);
    queue.add(w.ticket, w.signature, w.rand);
    queue.add(w.ticket, w.signature, w.rand);
    assert.deepEqual(queue.counts(), { pending: 1 });
    await queue.close();
  });
});
