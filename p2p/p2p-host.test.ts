import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { createLogger } from '../observability/logger.ts';
import { createP2pHost, parseBootstrap, type P2pHost } from './p2p-host.ts';
import { loadOrCreatePeerKey, peerKeyPath } from './peer-key.ts';
import { waitFor } from '../test/support/wait.ts';

const logger = createLogger({ level: 'silent' });


describe('libp2p identity and reconnection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'castnet-p2p-'));
  const hosts: P2pHost[] = [];
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the same peer id across restarts, in a 0600 key file', async () => {
    const first = await createP2pHost({ host: '127.0.0.1', port: 0, bootstrap: [], privateKey: await loadOrCreatePeerKey(dir, 'relay'), logger });
    const id = first.peerId;
    await first.stop();
    const again = await createP2pHost({ host: '127.0.0.1', port: 0, bootstrap: [], privateKey: await loadOrCreatePeerKey(dir, 'relay'), logger });
    hosts.push(again);
    assert.equal(again.peerId, id);
    assert.equal(statSync(peerKeyPath(dir, 'relay')).mode & 0o777, 0o600);
    const other = await createP2pHost({ host: '127.0.0.1', port: 0, bootstrap: [], privateKey: await loadOrCreatePeerKey(dir, 'transcoder'), logger });
    hosts.push(other);
    assert.notEqual(other.peerId, id, 'each role has its own key');
  });

  it('gives a throwaway key without a data directory', async () => {
    const [a, b] = await Promise.all([loadOrCreatePeerKey(null, 'relay'), loadOrCreatePeerKey(null, 'relay')]);
    assert.ok(!a.equals(b));
  });

  it('announces the listen port under a public host name, or the addresses it is given', async () => {
    const behindName = await createP2pHost({ host: '127.0.0.1', port: 0, bootstrap: [], announceHost: 'node.example.org', logger });
    hosts.push(behindName);
    assert.match(behindName.multiaddrs[0]!, new RegExp(`^/dns4/node\\.example\\.org/tcp/\\d+/p2p/${behindName.peerId}$`));
    const natted = await createP2pHost({ host: '127.0.0.1', port: 0, bootstrap: [], announce: ['/ip4/203.0.113.5/tcp/4002'], logger });
    hosts.push(natted);
    assert.deepEqual(natted.multiaddrs, [`/ip4/203.0.113.5/tcp/4002/p2p/${natted.peerId}`]);
  });

  it('refuses a bootstrap address that names no peer', () => {
    assert.throws(() => parseBootstrap(['/ip4/127.0.0.1/tcp/4001']), /names no peer: end it with \/p2p\/<peer id>/);
    assert.throws(() => parseBootstrap(['not-an-address']), /is not a multiaddr/);
  });

  it('reconnects to a bootstrap peer restarted with the same key and port', async () => {
    const key = await loadOrCreatePeerKey(dir, 'orchestrator');
    let seed = await createP2pHost({ host: '127.0.0.1', port: 0, bootstrap: [], privateKey: key, logger });
    const address = seed.multiaddrs[0]!;
    const port = Number(/\/tcp\/(\d+)/.exec(address)![1]);
    const node = await createP2pHost({ host: '127.0.0.1', port: 0, bootstrap: [address], logger });
    hosts.push(node);
    await waitFor('the first connection', () => node.peers === 1, 10_000, 50);
    await seed.stop();
    await waitFor('the connection to close', () => node.peers === 0, 10_000, 50);
    seed = await createP2pHost({ host: '127.0.0.1', port, bootstrap: [], privateKey: await loadOrCreatePeerKey(dir, 'orchestrator'), logger });
    hosts.push(seed);
    assert.equal(seed.multiaddrs[0], address, 'same peer id and port: the bootstrap address still holds');
    await waitFor('the node to reconnect', () => node.peers === 1, 10_000, 50);
  });

  it('meshes: two nodes bootstrapped from a third find each other', async () => {
    const hub = await createP2pHost({ host: '127.0.0.1', port: 0, bootstrap: [], logger });
    hosts.push(hub);
    const a = await createP2pHost({ host: '127.0.0.1', port: 0, bootstrap: hub.multiaddrs, logger });
    const b = await createP2pHost({ host: '127.0.0.1', port: 0, bootstrap: hub.multiaddrs, logger });
    hosts.push(a, b);
    await waitFor('a and b to connect to each other', () => a.peers === 2 && b.peers === 2, 15_000, 50);
  });
});
