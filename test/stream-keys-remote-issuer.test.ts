// A streamer makes a stream key from the dashboard of an orchestrator that runs apart from the broadcaster:
// orchestrator, transcoder, relay and broadcaster are each their own OS process through the real CLI, the
// orchestrator started with --key-issuer-url (the broadcaster's HTTP URL) and --key-issuer-token-file (the
// broadcaster's admin token file). The key made through the orchestrator's dashboard route lands in the
// broadcaster's store, and real FFmpeg publishing with it makes the stream live; a key nobody made is
// refused (the broadcaster is not in dev mode).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { adminTokenPath, loadOrCreateAdminToken } from '../http/admin-token.ts';
import { streamKeyCreatedSchema, streamKeyListSchema } from '../protocol/stream-key-admin.ts';
import type { StreamDirectoryEntry } from '../protocol/stream-record.ts';
import { closedPort } from './support/ports.ts';
import { getText, operatorClient, publish, spawnBroadcaster, spawnNode, waitFor, waitForActive, within, type NodeProcess, type Publisher } from './support/network.ts';

describe('stream keys made at a separate broadcaster through the orchestrator dashboard', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'castnet-remote-keys-'));
  const orchestratorDir = join(dataDir, 'orchestrator');
  const broadcasterDir = join(dataDir, 'broadcaster');
  const nodes: NodeProcess[] = [];
  const publishers: Publisher[] = [];
  let orchestrator: NodeProcess;
  let broadcaster: NodeProcess & { rtmpUrl: string };
  let relayUrl: string;

  beforeAll(async () => {
    // The broadcaster starts first (it needs no orchestrator to start), so the orchestrator can name its URL.
    const [orchestratorPort, relayPort] = [await closedPort(), await closedPort()];
    relayUrl = `http://127.0.0.1:${relayPort}`;
    broadcaster = await spawnBroadcaster(['--allow-private-nodes', '--http-port', '0', '--rtmp-port', '0', '--orchestrator', `http://127.0.0.1:${orchestratorPort}`, '--data-dir', broadcasterDir, '--watch-base-url', relayUrl]);
    nodes.push(broadcaster);
    orchestrator = await spawnNode('orchestrator', [
      '--allow-private-nodes', '--http-port', String(orchestratorPort), '--data-dir', orchestratorDir, '--heartbeat-interval-ms', '500', '--node-timeout-ms', '3000',
      '--key-issuer-url', broadcaster.url, '--key-issuer-token-file', adminTokenPath(broadcasterDir),
    ]);
    nodes.push(orchestrator);
    const transcoder = await spawnNode('transcoder', ['--http-port', '0', '--orchestrator', orchestrator.url, '--data-dir', '', '--encoder', 'libx264']);
    nodes.push(transcoder);
    const relay = await spawnNode('relay', ['--allow-private-nodes', '--http-port', String(relayPort), '--orchestrator', orchestrator.url, '--data-dir', '']);
    nodes.push(relay);
    await Promise.all([waitForActive(orchestrator.url, transcoder.url), waitForActive(orchestrator.url, relay.url)]);
    const { paymentAddress } = JSON.parse((await getText(`${broadcaster.url}/healthz`)).text) as { paymentAddress: string };
    await operatorClient(orchestrator.url, orchestratorDir).deposit(paymentAddress, 10n ** 18n);
  });

  afterAll(async () => {
    await Promise.all(publishers.map((p) => p.stop()));
    await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('makes a key at the broadcaster from the dashboard route; FFmpeg publishing with it goes live', async () => {
    const auth = { authorization: `Bearer ${loadOrCreateAdminToken(orchestratorDir)}` };
    const res = await fetch(`${orchestrator.url}/dashboard/stream-keys`, { method: 'POST', headers: auth });
    assert.equal(res.status, 201, await res.clone().text());
    const key = streamKeyCreatedSchema.parse(await res.json());
    assert.equal(key.server, broadcaster.rtmpUrl);
    assert.deepEqual([key.obs.server, key.obs.streamKey], [broadcaster.rtmpUrl, key.streamKey]);
    assert.equal(key.watchUrl, `${relayUrl}/watch/${key.playbackId}`);

    const list = streamKeyListSchema.parse(await (await fetch(`${orchestrator.url}/dashboard/stream-keys`, { headers: auth })).json());
    assert.deepEqual(list.keys.map((k) => [k.streamKey, k.playbackId]), [[key.streamKey, key.playbackId]]);
    const snapshot = JSON.parse((await getText(`${orchestrator.url}/dashboard/snapshot`)).text) as { streamKeys: boolean };
    assert.equal(snapshot.streamKeys, true, 'the page offers the key form');

    // Not dev mode: a key the dashboard did not make is refused at ingest.
    const guess = publish(`${broadcaster.rtmpUrl}/sk_nobody_made_this`, { seconds: 3 });
    publishers.push(guess);
    assert.notEqual(await within('the refused publisher to exit', guess.exited, 20_000), 0);

    publishers.push(publish(`${broadcaster.rtmpUrl}/${key.streamKey}`));
    const live = await waitFor('the stream live in the directory with its renditions', async () => {
      const { text } = await getText(`${orchestrator.url}/api/streams`);
      assert.ok(!text.includes(key.streamKey), 'the directory never names a stream key');
      return (JSON.parse(text) as StreamDirectoryEntry[]).find((s) => s.playbackId === key.playbackId && s.renditions.length > 1);
    }, 60_000, 250);
    assert.equal(live.playbackUrl, `${relayUrl}/hls/${key.playbackId}/master.m3u8`);
    const status = JSON.parse((await getText(`${orchestrator.url}/api/streams/${key.playbackId}`)).text) as { state: string };
    assert.equal(status.state, 'live');
    await waitFor('a segment of the source at the relay', async () => /\.ts$/m.test((await getText(`${relayUrl}/hls/${key.playbackId}/source/index.m3u8`)).text), 30_000);
  });
});
