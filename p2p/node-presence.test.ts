import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, it } from 'vitest';
import { createLogger } from '../observability/logger.ts';
import { identityFromPrivateKey } from '../protocol/identity.ts';
import { openAnnouncement } from '../protocol/node-announcement.ts';
import { startPresence, type Presence, type PresenceOptions } from './node-presence.ts';
import { startOrchestratorPresence } from './orchestrator-presence.ts';
import { OrchestratorLocator } from './orchestrator-locator.ts';
import { waitFor } from '../test/support/wait.ts';

const logger = createLogger({ level: 'silent' });


function node(url: string, bootstrap: string[], orchestrator: OrchestratorLocator): PresenceOptions {
  return {
    role: 'relay', host: '127.0.0.1', bootstrap, p2pPort: 0, p2pAnnounce: [], publicUrl: null, dataDir: null, announceIntervalMs: 200, orchestratorWaitMs: 10_000, orchestrator, logger,
    identity: identityFromPrivateKey(randomBytes(32)),
    record: () => ({ role: 'relay', url, version: '0.1.0', capabilities: { encoders: [], maxSessions: 8, pricePerPixel: '0' }, load: { sessions: 0, inFlight: 0 } }),
  };
}

describe('presence on a meshed network', () => {
  const stops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
  });

  it('lets a node bootstrapped from another node, not the orchestrator, learn the orchestrator and be heard by it', async () => {
    const heard = new Set<string>();
    const orchestrator = await startOrchestratorPresence({
      host: '127.0.0.1', p2pPort: 0, bootstrap: [], p2pAnnounce: [], dataDir: null, announceIntervalMs: 200, logger,
      // A loopback URL: its host is not turned into the announced p2p address (a public one would be).
      url: () => 'http://127.0.0.1:18935',
      identity: identityFromPrivateKey(randomBytes(32)),
      onAnnouncement: (data) => {
        const record = openAnnouncement(data, Date.now(), 10_000);
        if (typeof record === 'object') heard.add(record.url);
      },
    });
    stops.push(() => orchestrator.stop());
    const firstLocator = new OrchestratorLocator(null, true, logger);
    const first: Presence = await startPresence(node('http://first.example', orchestrator.p2p.multiaddrs, firstLocator));
    stops.push(() => first.stop());
    assert.equal(firstLocator.url(), 'http://127.0.0.1:18935');
    const secondLocator = new OrchestratorLocator(null, true, logger);
    const second = await startPresence(node('http://second.example', first.p2p!.multiaddrs, secondLocator));
    stops.push(() => second.stop());
    assert.equal(secondLocator.url(), 'http://127.0.0.1:18935', 'learned through the node it bootstrapped from');
    await waitFor('the orchestrator to hear both nodes', () => heard.has('http://first.example') && heard.has('http://second.example'), 15_000, 50);
  });
});
