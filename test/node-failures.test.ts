// A node that fails while a real stream runs: a transcoder returning corrupt output.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { afterEach, describe, it } from 'vitest';
import { NodeRegistrationLoop } from '../p2p/registration-loop.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import { createTranscoder } from '../transcoder/transcoder.ts';
import { encodeMultipart, newBoundary } from '../protocol/multipart.ts';
import { TRANSCODE_HEADERS } from '../protocol/transcode-request.ts';
import { URL_CHALLENGE_PATH, answerChallenge } from '../protocol/url-challenge.ts';
import { randomIdentity } from './support/node-stub.ts';
import { getText, metric, publish, startNetwork, stopAll, testLogger, waitFor, type Publisher, type TestNetwork } from './support/network.ts';

/**
 * A transcoder gone bad, as seen from outside: it registers like any other, but answers every segment
 * with the source bytes cut short (too short) for the first rung and whole (wrong resolution) for the rest.
 */
async function corruptTranscoder(orchestrator: string): Promise<{ url: string; close(): Promise<void> }> {
  const identity = randomIdentity();
  const server: Server = createServer((req, res) => {
    // It proves its URL like any node: the key it registers with answers there.
    if (req.url?.startsWith(URL_CHALLENGE_PATH)) {
      res.end(JSON.stringify(answerChallenge(new URL(req.url, 'http://x').searchParams.get('nonce') ?? '', identity)));
      return;
    }
    if (req.url?.startsWith('/ticket-params')) {
      res.end(JSON.stringify({ recipient: `0x${'99'.repeat(20)}`, faceValue: '1', winProb: '1', recipientRandHash: `0x${'00'.repeat(32)}`, seed: `0x${'00'.repeat(32)}`, expiresAt: Date.now() + 3_600_000, pricePerPixel: '0' }));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const source = Buffer.concat(chunks);
      const rungs = JSON.parse(String(req.headers[TRANSCODE_HEADERS.renditions])) as Array<{ name: string }>;
      const boundary = newBoundary();
      const parts = rungs.map((r, i) => ({ headers: { [TRANSCODE_HEADERS.rendition]: r.name }, body: i === 0 ? source.subarray(0, 188 * 200) : source }));
      res.writeHead(200, { 'content-type': `multipart/mixed; boundary=${boundary}` });
      res.end(Buffer.concat(encodeMultipart(parts, boundary)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const registration = new NodeRegistrationLoop(
    new OrchestratorClient(orchestrator, { identity }),
    () => ({ role: 'transcoder', url, paymentAddress: identity.address, version: '0.1.0', capabilities: { encoders: ['libx264'], maxSessions: 8, pricePerPixel: '0' }, load: { sessions: 0, inFlight: 0 } }),
    testLogger,
  );
  await registration.start();
  return {
    url,
    close: async () => {
      registration.stop();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('node failures', () => {
  let net: TestNetwork | undefined;
  const publishers: Publisher[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
    await stopAll(publishers, net);
    net = undefined;
  });

  it('rejects corrupt renditions before any relay sees them, counts them against the node, and moves the stream', async () => {
    net = await startNetwork();
    // Only the corrupt transcoder is registered when the stream starts.
    const realPort = Number(new URL(net.transcoder.url).port);
    await net.transcoder.stop();
    await waitFor('the real transcoder to leave the registry', async () => !(await getText(`${net!.orchestrator.url}/api/nodes`)).text.includes(`:${realPort}`), 10_000);
    const corrupt = await corruptTranscoder(net.orchestrator.url);
    cleanups.push(corrupt.close);
    publishers.push(publish(`${net.broadcaster.rtmpUrl}/corrupted`, { width: 854, height: 480 }));
    const playbackId = net.broadcaster.keys.resolve('corrupted');
    const hls = `${net.relay.url}/hls/${playbackId}`;

    await waitFor('bad output to be counted', async () => (await metric(net!.broadcaster.httpUrl, /^castnet_broadcaster_transcode_failures_total\{[^}]*reason="bad_output"/)) >= 2, 20_000);
    assert.equal((await getText(`${hls}/480p/index.m3u8`)).status, 404, 'the truncated rendition was never published');
    assert.equal((await getText(`${hls}/360p/index.m3u8`)).status, 404, 'the wrong-resolution rendition was never published');
    assert.equal((await getText(`${hls}/source/index.m3u8`)).status, 200, 'the source still plays');
    const nodes = JSON.parse((await getText(`${net.orchestrator.url}/api/nodes`)).text) as Array<{ url: string; recentFailures: number; score: number }>;
    const listed = nodes.find((n) => n.url === corrupt.url)!;
    assert.ok(listed.recentFailures >= 1, 'failures are counted against the node');
    assert.ok(listed.score < 1, 'and lower its score');

    // A healthy transcoder joins: the stream moves to it and renditions appear.
    const healthy = await createTranscoder({ httpPort: realPort, orchestrator: net.orchestrator.url, encoder: 'libx264', dataDir: null }, { logger: testLogger });
    await healthy.start();
    net.transcoder = healthy;
    await waitFor('renditions from the healthy transcoder', async () => (await getText(`${hls}/360p/index.m3u8`)).status === 200, 30_000);
  });
});
