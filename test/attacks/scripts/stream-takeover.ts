// Attack: take over a live stream through its session and through failure reports, from its own process
// and key. Opens the honest playback id avoiding its real nodes, closes it, sends it unsigned, then opens
// streams of its own and reports the honest nodes as failing (every reason) as often as it can, within `rounds`.

import { randomIdentity } from '../../../protocol/identity.ts';
import { OrchestratorClient } from '../../../protocol/orchestrator-client.ts';
import { attackArgs, attackerFetch, attempt, finish, rawRequest } from '../../support/attacker.ts';

const args = attackArgs<{ orchestrator: string; playbackId: string; transcoder: string; relay: string; rounds: number }>();
const attacker = randomIdentity();
const client = new OrchestratorClient(args.orchestrator, { identity: attacker, fetch: attackerFetch });
const startedAt = new Date().toISOString();

await attempt('takeover', async () => {
  const a = await client.openSession({ playbackId: args.playbackId, startedAt, avoid: [args.transcoder, args.relay] });
  return { relay: a.relay.url };
});
await attempt('close', () => client.closeSession(args.playbackId));
await attempt('unsigned', () => rawRequest(`${args.orchestrator}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ playbackId: args.playbackId, startedAt, avoid: [args.transcoder, args.relay] }) }));
await attempt('unsigned-close', () => rawRequest(`${args.orchestrator}/api/streams/${args.playbackId}`, { method: 'DELETE' }));

// Streams of its own, which the orchestrator may well put on the honest nodes: then report those nodes.
const reasons = ['verification_failed', 'bad_output', 'unreachable', 'transcoder_error', 'publish_failed'];
for (let i = 0; i < args.rounds; i++) {
  const id = `attacker-${i % 4}`;
  await attempt(`own-${i}`, async () => {
    await client.openSession({ playbackId: id, startedAt });
    const reason = reasons[i % reasons.length]!;
    await client.openSession({ playbackId: id, startedAt, avoid: [args.transcoder, args.relay], failures: [{ node: args.transcoder, reason }, { node: args.relay, reason }] });
  });
}

finish({ attacker: attacker.address });
