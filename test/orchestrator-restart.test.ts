// The orchestrator restarts mid-stream, with orchestrator, transcoder and relay as their own OS processes
// (the broadcaster in this one, publishing real RTMP): the stream keeps running, the nodes register again,
// the stream comes back to the directory, and the ledger (in the data directory) keeps its balances.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createBroadcaster, type Broadcaster } from '../broadcaster/broadcaster.ts';
import { getText, operatorClient, publish, spawnNode, testLogger, waitFor, type NodeProcess, type Publisher } from './support/network.ts';

describe('an orchestrator restart mid-stream', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'castnet-restart-'));
  let orchestrator: NodeProcess;
  const nodes: NodeProcess[] = [];
  let broadcaster: Broadcaster;
  let publisher: Publisher;
  let port: string;

  beforeAll(async () => {
    orchestrator = await spawnNode('orchestrator', ['--allow-private-nodes', '--http-port', '0', '--data-dir', join(dataDir, 'orchestrator'), '--heartbeat-interval-ms', '500', '--node-timeout-ms', '3000']);
    port = new URL(orchestrator.url).port;
    // Every ticket wins (ticket EV = face value), so a redemption is certain within the first segments.
    nodes.push(await spawnNode('transcoder', ['--http-port', '0', '--orchestrator', orchestrator.url, '--data-dir', '', '--encoder', 'libx264', '--ticket-face-value', '1000000000', '--ticket-ev', '1000000000']));
    nodes.push(await spawnNode('relay', ['--allow-private-nodes', '--http-port', '0', '--orchestrator', orchestrator.url, '--data-dir', '']));
    broadcaster = await createBroadcaster({ allowPrivateNodes: true, rtmpPort: 0, httpPort: 0, orchestrator: orchestrator.url, dataDir: join(dataDir, 'broadcaster'), dev: true, sessionRefreshMs: 2_000 }, { logger: testLogger });
    await broadcaster.start();
    await operatorClient(orchestrator.url, join(dataDir, 'orchestrator')).deposit(broadcaster.paymentAddress, 10n ** 18n);
    await waitFor('both nodes registered', async () => (JSON.parse((await getText(`${orchestrator.url}/api/nodes`)).text) as unknown[]).length === 2);
    publisher = publish(`${broadcaster.rtmpUrl}/steady`);
  });

  afterAll(async () => {
    await publisher?.stop();
    await broadcaster?.stop();
    await Promise.all([...nodes, orchestrator].map((n) => n?.kill()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps the stream running while the orchestrator is down; nodes and the stream register again; redeemed balances survive', async () => {
    const playbackId = broadcaster.keys.resolve('steady');
    const relay = nodes[1]!.url;
    const playlist = `${relay}/hls/${playbackId}/360p/index.m3u8`;
    const newest = async () => Math.max(-1, ...((await getText(playlist)).text.match(/^\d+(?=\.ts$)/gm) ?? []).map(Number));
    await waitFor('renditions', async () => (await newest()) >= 1, 30_000);
    const depositBefore = await waitFor('a ticket redeemed', async () => {
      const a = JSON.parse((await getText(`${orchestrator.url}/api/ledger/accounts/${broadcaster.paymentAddress}`)).text) as { deposit: string };
      return BigInt(a.deposit) < 10n ** 18n ? BigInt(a.deposit) : undefined;
    }, 30_000);

    await orchestrator.kill('SIGKILL');
    const atKill = await newest();
    await waitFor('renditions while the orchestrator is down', async () => (await newest()) >= atKill + 1, 15_000);

    orchestrator = await spawnNode('orchestrator', ['--allow-private-nodes', '--http-port', port, '--data-dir', join(dataDir, 'orchestrator'), '--heartbeat-interval-ms', '500', '--node-timeout-ms', '3000']);
    await waitFor('both nodes registered again', async () => (JSON.parse((await getText(`${orchestrator.url}/api/nodes`)).text) as unknown[]).length === 2, 15_000);
    await waitFor('the stream back in the directory', async () => (await getText(`${orchestrator.url}/api/streams`)).text.includes(playbackId), 15_000);
    await waitFor('renditions after the restart', async () => (await newest()) >= atKill + 3, 20_000);
    const account = JSON.parse((await getText(`${orchestrator.url}/api/ledger/accounts/${broadcaster.paymentAddress}`)).text) as { deposit: string };
    // A ledger that forgot would show the broadcaster unfunded (0) or back at the full deposit.
    assert.ok(BigInt(account.deposit) <= depositBefore, `the ledger kept its balances across the restart (${account.deposit} after, ${depositBefore} before)`);
    assert.ok(BigInt(account.deposit) > 0n);
  });
});
