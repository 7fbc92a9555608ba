// Attack: turning a signed stream public. The playback policy travels signed by the stream's publisher key
// (protocol/playback-policy.ts), so nobody on the way can change it. At the origin, a descriptor carrying a
// `public` policy signed by another key, or an older one the publisher really signed, is refused and the
// stream stays signed. Through a malicious parent relay (it relays the honest origin but answers the
// policy with a forged `public` document, an old genuine `public` one, or none at all), an edge that knows
// the stream from its directory keeps asking viewers for a token and serves them when they have one.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { exportJWK, generateKeyPair } from 'jose';
import { createRelay, type Relay } from '../../relay/relay.ts';
import { playbackKeySchema, signPlaybackPolicy, type SignedPlaybackPolicy } from '../../protocol/playback-policy.ts';
import { makePlaybackToken } from '../../protocol/playback-token.ts';
import { randomIdentity } from '../../protocol/identity.ts';
import { TestPublisher } from '../support/signed-content.ts';
import { metric, testLogger } from '../support/network.ts';

const ID = 'guarded';
const segment = (seq: number) => {
  const b = new Uint8Array(188 * 50);
  for (let i = 0; i < b.length; i += 188) {
    b[i] = 0x47;
    b[i + 1] = seq;
  }
  return b;
};
const descriptor = { targetDuration: 2, variants: [{ name: 'source', width: 640, height: 360, bandwidth: 1e6, codecs: 'avc1.64001e,mp4a.40.2' }] };

type ParentLie = 'forged' | 'stale' | 'none';

describe('attack: forging a playback policy change to public', () => {
  const publisher = new TestPublisher();
  const attacker = randomIdentity();
  let origin: Relay;
  let signed: SignedPlaybackPolicy;
  let stalePublic: SignedPlaybackPolicy;
  let forgedPublic: SignedPlaybackPolicy;
  let token = '';
  let parent: Server;
  let parentUrl = '';
  let lie: ParentLie = 'forged';
  const edges: Relay[] = [];

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const pub = await exportJWK(publicKey);
    const key = playbackKeySchema.parse({ kid: 'k1', kty: 'EC', crv: 'P-256', alg: 'ES256', x: pub.x, y: pub.y });
    const now = Date.now();
    signed = signPlaybackPolicy({ playbackId: ID, mode: 'signed', keys: [key], issuedAt: now }, publisher.identity.privateKey);
    stalePublic = signPlaybackPolicy({ playbackId: ID, mode: 'public', keys: [], issuedAt: now - 60_000 }, publisher.identity.privateKey);
    forgedPublic = signPlaybackPolicy({ playbackId: ID, mode: 'public', keys: [], issuedAt: now + 60_000 }, attacker.privateKey);
    token = await makePlaybackToken({ playbackId: ID, key: { alg: 'ES256', kid: 'k1', privateJwk: await exportJWK(privateKey) }, expiresInSeconds: 600 });

    // The directory binds the publisher's key to the playback id (as the orchestrator's does).
    origin = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false }, { logger: testLogger, publisherLookup: async () => publisher.address });
    await origin.start();
    assert.equal((await publisher.descriptor(origin.url, ID, { ...descriptor, playbackPolicy: signed })).status, 204);
    for (let seq = 0; seq < 3; seq++) assert.equal((await publisher.segment(origin.url, ID, 'source', seq, segment(seq))).status, 201);

    // The attacker's parent relay: the origin's answers, except for the policy.
    parent = createServer((req, res) => {
      void (async () => {
        if (req.url?.endsWith('/policy.json')) {
          const document = lie === 'forged' ? forgedPublic : lie === 'stale' ? stalePublic : null;
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ document }));
          return;
        }
        const up = await fetch(`${origin.url}${req.url}`, { headers: req.headers.authorization ? { authorization: req.headers.authorization } : {} });
        const headers: Record<string, string> = {};
        up.headers.forEach((v, k) => (headers[k] = v));
        delete headers['content-encoding'];
        res.writeHead(up.status, headers).end(Buffer.from(await up.arrayBuffer()));
      })().catch(() => res.destroy());
    });
    await new Promise<void>((resolve) => parent.listen(0, '127.0.0.1', resolve));
    parentUrl = `http://127.0.0.1:${(parent.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const e of edges) await e.stop();
    await origin?.stop();
    await new Promise((resolve) => parent?.close(resolve));
  });

  const status = async (url: string, headers: Record<string, string> = {}) => {
    const res = await fetch(url, { headers });
    const body = res.headers.get('content-type')?.includes('json') ? ((await res.json()) as { error?: { reason?: string } }) : (await res.arrayBuffer(), {});
    return { status: res.status, reason: body.error?.reason };
  };

  it('refuses a descriptor whose public policy is signed by another key, and the stream stays signed', async () => {
    const res = await publisher.descriptor(origin.url, ID, { ...descriptor, playbackPolicy: forgedPublic });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { reason: string } }).error.reason, 'policy_forged');
    assert.deepEqual(await status(`${origin.url}/hls/${ID}/source/2.ts`), { status: 401, reason: 'token_missing' });
    assert.ok((await metric(origin.url, /^castnet_relay_playback_refused_total\{reason="policy_forged"/)) >= 1);
  });

  it("refuses the attacker's own descriptor (not the publisher's request) carrying a public policy", async () => {
    const intruder = new TestPublisher(attacker);
    const res = await intruder.descriptor(origin.url, ID, { ...descriptor, playbackPolicy: forgedPublic });
    assert.equal(res.status, 401);
    assert.deepEqual(await status(`${origin.url}/hls/${ID}/master.m3u8`), { status: 401, reason: 'token_missing' });
  });

  it('refuses an older public policy the publisher really signed (a replayed document)', async () => {
    const res = await publisher.descriptor(origin.url, ID, { ...descriptor, playbackPolicy: stalePublic });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { reason: string } }).error.reason, 'policy_stale');
    assert.deepEqual(await status(`${origin.url}/hls/${ID}/source/index.m3u8`), { status: 401, reason: 'token_missing' });
  });

  it("admits HS256 tokens only at a relay started with the stream's secret (--playback-secrets-file), never at a stranger's", async () => {
    const secret = randomBytes(32);
    const dir = mkdtempSync(join(tmpdir(), 'castnet-secrets-'));
    const file = join(dir, 'secrets.json');
    writeFileSync(file, JSON.stringify({ hmac: [secret.toString('base64url')] }));
    const trusted = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, playbackSecretsFile: file }, { logger: testLogger, publisherLookup: async () => publisher.address });
    edges.push(trusted);
    await trusted.start();
    rmSync(dir, { recursive: true, force: true });
    const doc = signPlaybackPolicy({ playbackId: 'hmac', mode: 'signed', keys: [], issuedAt: Date.now() }, publisher.identity.privateKey);
    const hs = await makePlaybackToken({ playbackId: 'hmac', key: { alg: 'HS256', kid: 'h', secret }, expiresInSeconds: 600 });
    for (const relay of [trusted, origin]) {
      assert.equal((await publisher.descriptor(relay.url, 'hmac', { ...descriptor, playbackPolicy: doc })).status, 204);
      assert.equal((await publisher.segment(relay.url, 'hmac', 'source', 0, segment(0))).status, 201);
    }
    assert.equal((await status(`${trusted.url}/hls/hmac/source/0.ts?token=${hs}`)).status, 200);
    assert.deepEqual(await status(`${origin.url}/hls/hmac/source/0.ts?token=${hs}`), { status: 401, reason: 'token_invalid' });
  });

  for (const told of ['forged', 'stale', 'none'] as const) {
    it(`keeps asking for a token at an edge whose parent answers the policy with ${told === 'none' ? 'no document' : `a ${told} public document`}`, async () => {
      lie = told;
      const edge = await createRelay(
        { httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, parents: [parentUrl], allowPrivateNodes: true },
        { logger: testLogger, publisherLookup: async () => publisher.address, policyLookup: async () => signed },
      );
      edges.push(edge);
      await edge.start();
      for (const path of [`/hls/${ID}/master.m3u8`, `/hls/${ID}/source/index.m3u8`, `/hls/${ID}/source/1.ts`]) {
        assert.deepEqual(await status(`${edge.url}${path}`), { status: 401, reason: 'token_missing' }, path);
        assert.equal((await status(`${edge.url}${path}?token=${token}`)).status, 200, `${path} with the token`);
      }
      if (told === 'forged') assert.ok((await metric(edge.url, /^castnet_relay_playback_refused_total\{reason="policy_forged"/)) >= 1, 'the forgery is counted');
    });
  }
});
