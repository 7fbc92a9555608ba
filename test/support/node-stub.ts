// Test support: a node that is only its HTTP skeleton (http/node-app.ts) with a key, so it answers the
// orchestrator's URL challenge at its URL as a real transcoder or relay does. Orchestrator tests register
// these instead of URLs nobody listens at: an unproved node is never scheduled.

import { Registry } from 'prom-client';
import { createNodeApp, finishNodeApp, listen } from '../../http/node-app.ts';
import { silentLogger } from '../../observability/logger.ts';
import { randomIdentity, type Identity } from '../../protocol/identity.ts';
import { OrchestratorClient } from '../../protocol/orchestrator-client.ts';

export { randomIdentity };

export interface NodeStub {
  url: string;
  identity: Identity;
  /** An orchestrator client that signs as this node. */
  client(orchestratorUrl: string): OrchestratorClient;
  close(): Promise<void>;
}

export async function startNodeStub(role = 'relay', identity: Identity = randomIdentity()): Promise<NodeStub> {
  const app = createNodeApp({ role, registry: new Registry(), identity });
  finishNodeApp(app, silentLogger);
  const server = await listen(app, '127.0.0.1', 0);
  return { url: server.url, identity, client: (orchestratorUrl) => new OrchestratorClient(orchestratorUrl, { identity }), close: () => server.close() };
}
