// The chain settlement's answers on anvil: what a sender can pay a recipient (deposit and that recipient's
// reserve allocation, nothing once its unlock has begun), funding and earnings through the interface.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { identityFromPrivateKey } from '../protocol/identity.ts';
import { ChainSettlement } from './chain-settlement.ts';
import { startDevChain, type DevChain } from './dev-chain.ts';

let chain: DevChain;
beforeAll(async () => {
  chain = await startDevChain({ broker: { reserveRecipients: 4n } });
});
afterAll(async () => {
  await chain?.stop();
});

describe('chain settlement', () => {
  it("funds from the sender's own key, and offers a recipient the deposit and its reserve allocation until an unlock begins", async () => {
    const settlement = new ChainSettlement({ rpcUrl: chain.rpcUrl, broker: chain.broker, confirmations: 1 });
    const sender = identityFromPrivateKey(randomBytes(32));
    await chain.sendEth(sender.address, 10n ** 18n);
    const funds = await settlement.fund(sender, sender.address, 1_000n, 400n);
    assert.deepEqual(funds, { deposit: 1_000n, reserve: 400n, reserveClaimed: 0n, withdrawBlock: 0n });
    const recipient = identityFromPrivateKey(randomBytes(32)).address;
    assert.equal(await settlement.payableTo(sender.address, recipient), 1_100n, 'the deposit and a quarter of the reserve');
    await settlement.client(sender).unlock();
    assert.equal(await settlement.payableTo(sender.address, recipient), 0n, 'an unlocking sender gets no new work');
    assert.deepEqual(await settlement.earnings(recipient), { earned: 0n, withdrawn: 0n });
    assert.match(settlement.description, /^TicketBroker 0x[0-9a-f]{40} on the chain at http:\/\/127\.0\.0\.1:\d+$/);
  });
});
