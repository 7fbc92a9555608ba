// Attack: money from nowhere, against a live network while Chromium watches the honest stream. From its own
// process and key the attacker deposits 2·(2^256−1) and 1 ETH without credentials and signed by its own
// key, and withdraws the honest transcoder's earnings with its own signature: every one refused with a
// reason and counted. The operator's own deposit past uint256 is refused too. No balance changes but the
// honest stream's payments, and the stream plays on with no missing sequence number.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { OrchestratorClient } from '../../protocol/orchestrator-client.ts';
import { rejectsWith } from '../support/assertions.ts';
import { startLiveNetwork, type LiveNetwork } from '../support/attack.ts';

describe('attack: deposits without credentials', () => {
  let live: LiveNetwork;
  beforeAll(async () => {
    live = await startLiveNetwork();
  });
  afterAll(() => live?.close());

  it('mints nothing and moves nobody else\'s money', async () => {
    const { orchestrator, transcoder } = live.net;
    const money = live.accounts();
    const report = await live.attack('deposit-forgery.ts', { orchestrator: orchestrator.url, victim: transcoder.payments.recipient });

    for (const name of ['unsigned', 'unsigned-small']) assert.deepEqual([report.step(name).status, report.step(name).reason], [401, 'signature_missing'], name);
    assert.deepEqual([report.step('self-signed').code, report.step('self-signed').reason], ['FORBIDDEN', 'not_operator']);
    assert.deepEqual([report.step('self-signed-huge').status, report.step('self-signed-huge').reason], [403, 'not_operator'], 'refused before its amount is even read');
    assert.deepEqual([report.step('steal-earnings').status, report.step('steal-earnings').reason], [401, 'bad_signature']);
    assert.ok((await live.refused('signature_missing')) >= 2);
    assert.ok((await live.refused('not_operator')) >= 2);
    assert.equal(orchestrator.ledger!.account(report['attacker'] as string).deposit, 0n);

    // Even the operator cannot take a balance past uint256: one amount or two.
    const operator = new OrchestratorClient(orchestrator.url, { identity: orchestrator.operator });
    const max = (1n << 256n) - 1n;
    const body = new TextEncoder().encode(JSON.stringify({ address: `0x${'77'.repeat(20)}`, amount: (2n * max).toString() }));
    const { signRequest } = await import('../../protocol/signed-request.ts');
    const res = await fetch(`${orchestrator.url}/api/ledger/deposits`, { method: 'POST', headers: { 'content-type': 'application/json', ...signRequest(orchestrator.operator, { method: 'POST', path: '/api/ledger/deposits', body, timestamp: Date.now() }) }, body });
    assert.equal(res.status, 400);
    const holder = `0x${'78'.repeat(20)}`;
    await operator.deposit(holder, max);
    await rejectsWith(operator.deposit(holder, max), { code: 'BAD_REQUEST', reason: 'exceeds_uint256' });
    assert.equal(orchestrator.ledger!.account(holder).deposit, max);
    money.set(holder, orchestrator.ledger!.account(holder));

    await live.assertHonestStreamHealthy(2);
    live.assertOnlyHonestMoney(money);
  });
});
