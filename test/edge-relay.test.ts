// A pure edge relay (--edge) next to an origin: it registers as an edge, is never made a stream's origin
// even when it registered first and is the least loaded, and refuses pushes with 403 PUSH_REFUSED.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { resolveOptions } from '../cli/options.ts';
import { silentLogger } from '../observability/logger.ts';
import { createOrchestrator, type Orchestrator } from '../orchestrator/orchestrator.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import { relayOptionsDefinition } from '../relay/options.ts';
import { createRelay, type Relay } from '../relay/relay.ts';
import { randomBytes } from 'node:crypto';
import { identityFromPrivateKey } from '../protocol/identity.ts';
import { waitFor } from './support/wait.ts';

describe('edge relay', () => {
  let orchestrator: Orchestrator;
  let edge: Relay;
  let origin: Relay;
  let client: OrchestratorClient;

  beforeAll(async () => {
    orchestrator = await createOrchestrator({ httpPort: 0, dataDir: null, allowPrivateNodes: true }, { logger: silentLogger });
    await orchestrator.start();
    const common = { httpPort: 0, dataDir: null, orchestrator: orchestrator.url };
    // The edge registers first, with more room than the origin: without the rule it would win every tie.
    edge = await createRelay({ ...common, edge: true, maxSessions: 1_000 }, { logger: silentLogger });
    await edge.start();
    origin = await createRelay({ ...common, maxSessions: 100 }, { logger: silentLogger });
    await origin.start();
    // A broadcaster's client: sessions are signed by the key that owns them.
    client = new OrchestratorClient(orchestrator.url, { identity: identityFromPrivateKey(randomBytes(32)) });
    await waitFor('both relays proved', () => orchestrator.nodes.schedulable('relay').length === 2, 10_000, 20);
  });
  afterAll(async () => {
    await edge?.stop();
    await origin?.stop();
    await orchestrator?.stop();
  });

  it('registers with edge: true in its capabilities', async () => {
    const nodes = await client.nodes();
    assert.equal(nodes.find((n) => n.url === edge.url)?.capabilities.edge, true);
    assert.equal(nodes.find((n) => n.url === origin.url)?.capabilities.edge, undefined);
  });

  it('gives every new stream the origin, never the edge', async () => {
    for (let i = 0; i < 5; i++) {
      const assignment = await client.openSession({ playbackId: `edge-test-${i}`, startedAt: new Date().toISOString() });
      assert.equal(assignment.relay.url, origin.url);
    }
    // Players may still be sent to the edge, which pulls from the origin.
    assert.ok((await client.relaysFor('edge-test-0')).includes(edge.url));
  });

  it('answers pushes with 403 PUSH_REFUSED', async () => {
    const descriptor = await fetch(`${edge.url}/hls/abc`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(descriptor.status, 403);
    assert.equal(((await descriptor.json()) as { error: { code: string } }).error.code, 'PUSH_REFUSED');
    const segment = await fetch(`${edge.url}/hls/abc/source/0.ts`, { method: 'PUT', body: new Uint8Array(188).fill(0x47) });
    assert.equal(segment.status, 403);
    assert.equal((await fetch(`${edge.url}/hls/abc/end`, { method: 'POST' })).status, 403);
  });

  it('refuses --edge with no way to find parents', () => {
    assert.throws(() => resolveOptions(relayOptionsDefinition, ['--edge', '--orchestrator', '', '--no-discover-parents'], { env: {} }), /--edge pulls every stream from a parent/);
    assert.doesNotThrow(() => resolveOptions(relayOptionsDefinition, ['--edge', '--orchestrator', '', '--no-discover-parents', '--parents', 'http://127.0.0.1:9000'], { env: {} }));
  });
});
