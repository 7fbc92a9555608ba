// Attack: fake node registration and URL hijack, from its own process and address. Registers unsigned, as
// someone else's key, with the honest transcoder's and relay's URLs under its own keys (cheaper, bigger),
// heartbeats for the honest node, then floods the registry with fresh keys. Prints what each answered.

import { randomIdentity } from '../../../protocol/identity.ts';
import { OrchestratorClient } from '../../../protocol/orchestrator-client.ts';
import { signRequest } from '../../../protocol/signed-request.ts';
import { attackArgs, attackerFetch, attempt, finish, rawRequest } from '../../support/attacker.ts';

const args = attackArgs<{ orchestrator: string; transcoder: { url: string; id: string }; relay: { url: string; id: string }; flood: number }>();
const key = () => randomIdentity();
const as = (identity = key()) => new OrchestratorClient(args.orchestrator, { identity, fetch: attackerFetch });
const cheap = { encoders: ['libx264'], maxSessions: 1_000, pricePerPixel: '0' };

await attempt('unsigned', () => rawRequest(`${args.orchestrator}/api/nodes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ role: 'transcoder', url: args.transcoder.url, capabilities: cheap }) }));

await attempt('impersonate', async () => {
  await as().register({ role: 'transcoder', url: args.transcoder.url, paymentAddress: args.transcoder.id, capabilities: cheap });
});

await attempt('heartbeat-for-honest', async () => {
  await as().heartbeat(args.transcoder.id, { sessions: 1_000, inFlight: 0 });
});

const hijackers = { transcoder: key(), relay: key() };
await attempt('hijack-transcoder', async () => ({ id: (await as(hijackers.transcoder).register({ role: 'transcoder', url: args.transcoder.url, capabilities: cheap })).id }));
await attempt('hijack-relay', async () => ({ id: (await as(hijackers.relay).register({ role: 'relay', url: args.relay.url, capabilities: cheap })).id }));

// A signed request sent twice: the second is a replay.
await attempt('replay', async () => {
  const identity = key();
  const body = new TextEncoder().encode(JSON.stringify({ role: 'relay', url: 'http://127.0.0.1:1' }));
  const headers = { 'content-type': 'application/json', ...signRequest(identity, { method: 'POST', path: '/api/nodes', body, timestamp: Date.now() }) };
  const first = await rawRequest(`${args.orchestrator}/api/nodes`, { method: 'POST', headers, body });
  return { ...(await rawRequest(`${args.orchestrator}/api/nodes`, { method: 'POST', headers, body })), first: first.status };
});

// Fresh keys, one after another, as fast as the orchestrator answers: bounded by `flood`.
const outcomes: Record<string, number> = {};
const floodStartedMs = performance.now();
for (let i = 0; i < args.flood; i++) {
  const step = await attempt(`flood-${i}`, async () => ({ status: 201, id: (await as().register({ role: 'relay', url: `http://127.0.0.1:${1 + (i % 1000)}`, capabilities: cheap })).id }));
  const outcome = step.reason ?? String(step.status ?? step.code);
  outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
}

// How long the flood took: the registry's per-source budget refills while it runs.
const floodSeconds = (performance.now() - floodStartedMs) / 1000;

finish({ hijackers: { transcoder: hijackers.transcoder.address, relay: hijackers.relay.address }, outcomes, floodSeconds });
