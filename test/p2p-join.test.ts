// Joining a network with one flag, with every role but the broadcaster as its own OS process: a relay
// given only the orchestrator's address, and a transcoder given only the relay's, learn the orchestrator's
// URL from its signed gossip (ledger lookups, redemptions, registration); the orchestrator in libp2p mode killed with kill -9 and restarted on the same
// ports and data directory is found again; a node whose bootstrap reaches nothing refuses to start.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createBroadcaster, type Broadcaster } from '../broadcaster/broadcaster.ts';
import { loadOrCreatePeerKey } from '../p2p/peer-key.ts';
import { getText, operatorClient, publish, spawnNode, testLogger, waitFor, type NodeProcess, type Publisher } from './support/network.ts';

interface Listed {
  role: string;
  url: string;
  earned: string;
}

describe('joining a network with --bootstrap alone', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'castnet-join-'));
  let orchestrator: NodeProcess;
  let apiPort: string;
  let p2pPort: string;
  let bootstrap: string;
  let transcoder: NodeProcess;
  let relay: NodeProcess;
  let broadcaster: Broadcaster;
  const publishers: Publisher[] = [];
  const startOrchestrator = (api: string, p2p: string) =>
    spawnNode('orchestrator', ['--allow-private-nodes', '--http-port', api, '--data-dir', join(dataDir, 'orchestrator'), '--p2p', '--p2p-port', p2p, '--announce-interval-ms', '500', '--heartbeat-interval-ms', '500', '--node-timeout-ms', '3000']);
  const nodes = async () => JSON.parse((await getText(`${orchestrator.url}/api/nodes`)).text) as Listed[];
  const newest = async (playlist: string) => Math.max(-1, ...((await getText(playlist)).text.match(/^\d+(?=\.ts$)/gm) ?? []).map(Number));

  beforeAll(async () => {
    orchestrator = await startOrchestrator('0', '0');
    apiPort = new URL(orchestrator.url).port;
    bootstrap = await waitFor('the orchestrator multiaddr', async () => (JSON.parse((await getText(`${orchestrator.url}/healthz`)).text) as { multiaddrs: string[] }).multiaddrs[0]);
    p2pPort = /\/tcp\/(\d+)\//.exec(bootstrap)![1]!;
    // No --orchestrator: the only thing they know is one bootstrap address, the orchestrator's for the
    // relay and the relay's (from its /healthz) for the transcoder: any node can be the bootstrap. Every
    // ticket wins, so a redemption (sent to the learned URL) follows the first paid segment.
    relay = await spawnNode('relay', ['--allow-private-nodes', '--http-port', '0', '--bootstrap', bootstrap, '--p2p-port', '0', '--data-dir', join(dataDir, 'relay'), '--announce-interval-ms', '500']);
    const throughRelay = await waitFor("the relay's multiaddr", async () => (JSON.parse((await getText(`${relay.url}/healthz`)).text) as { multiaddrs: string[] }).multiaddrs[0]);
    assert.match(throughRelay, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3/);
    transcoder = await spawnNode('transcoder', ['--http-port', '0', '--bootstrap', throughRelay, '--p2p-port', '0', '--data-dir', join(dataDir, 'transcoder'), '--encoder', 'libx264', '--announce-interval-ms', '500', '--ticket-face-value', '1000000000', '--ticket-ev', '1000000000']);
    broadcaster = await createBroadcaster({ allowPrivateNodes: true, rtmpPort: 0, httpPort: 0, orchestrator: orchestrator.url, dataDir: join(dataDir, 'broadcaster'), dev: true, sessionRefreshMs: 1_000 }, { logger: testLogger });
    await broadcaster.start();
    const funded = await operatorClient(orchestrator.url, join(dataDir, 'orchestrator')).deposit(broadcaster.paymentAddress, 10n ** 18n, 10n ** 17n);
    assert.equal(funded.deposit, String(10n ** 18n));
  });

  afterAll(async () => {
    await Promise.all(publishers.map((p) => p.stop()));
    await broadcaster?.stop();
    await Promise.all([transcoder, relay, orchestrator].filter(Boolean).map((n) => n.kill()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists both nodes, and a stream is transcoded and paid through the learned orchestrator URL', async () => {
    await waitFor('both nodes in /api/nodes', async () => (await nodes()).length === 2, 20_000);
    publishers.push(publish(`${broadcaster.rtmpUrl}/first`));
    const playbackId = broadcaster.keys.resolve('first');
    await waitFor('renditions on the relay', async () => (await newest(`${relay.url}/hls/${playbackId}/360p/index.m3u8`)) >= 1, 40_000);
    // Paid: the transcoder found the sender's funds in the ledger (else 402) and redeemed its winners there.
    const earned = await waitFor('the transcoder to earn', async () => {
      const t = (await nodes()).find((n) => n.role === 'transcoder');
      return t && BigInt(t.earned) > 0n ? BigInt(t.earned) : undefined;
    }, 20_000);
    assert.ok(earned > 0n);
  });

  it('finds the nodes again after the orchestrator is killed and restarted on the same ports', async () => {
    await orchestrator.kill('SIGKILL');
    orchestrator = await startOrchestrator(apiPort, p2pPort);
    const restarted = Date.now();
    assert.equal((JSON.parse((await getText(`${orchestrator.url}/healthz`)).text) as { multiaddrs: string[] }).multiaddrs[0], bootstrap, 'same peer id and port: the bootstrap address still holds');
    await waitFor('both nodes back in /api/nodes', async () => (await nodes()).length === 2, 15_000, 100);
    publishers.push(publish(`${broadcaster.rtmpUrl}/second`));
    const playbackId = broadcaster.keys.resolve('second');
    await waitFor('a new stream in the directory', async () => (await getText(`${orchestrator.url}/api/streams`)).text.includes(playbackId), 15_000 - (Date.now() - restarted), 100);
    // Publishing: its segments reach the relay the restarted orchestrator assigned, within the same 15 s.
    await waitFor('the new stream on the relay', async () => (await newest(`${relay.url}/hls/${playbackId}/source/index.m3u8`)) >= 0, 15_000 - (Date.now() - restarted), 100);
    console.log(`# orchestrator restart → nodes listed and a new stream's first segment on the relay: ${((Date.now() - restarted) / 1000).toFixed(1)} s`);
    await waitFor('the new stream transcoded on the relay', async () => (await newest(`${relay.url}/hls/${playbackId}/360p/index.m3u8`)) >= 0, 20_000);
  });

  it('refuses to start when no orchestrator announces itself, naming what is missing', async () => {
    const nowhere = `/ip4/127.0.0.1/tcp/1/p2p/${peerIdFromPrivateKey(await loadOrCreatePeerKey(null, 'orchestrator')).toString()}`;
    const child = spawn(process.execPath, ['bin/castnet.js', 'relay', '--http-port', '0', '--bootstrap', nowhere, '--p2p-port', '0', '--data-dir', '', '--orchestrator-wait-ms', '1500'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(stderr, /no orchestrator announced itself over libp2p within 1\.5 s/);
    assert.ok(stderr.includes(nowhere), 'names the bootstrap address it tried');
    assert.match(stderr, /--orchestrator <url>/);
  });
});
