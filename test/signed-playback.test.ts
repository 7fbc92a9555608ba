// Signed playback end to end: a real FFmpeg publisher through the broadcaster to an origin relay and an edge
// relay that finds it in the orchestrator's directory. A stream key registered for signed playback (with
// `castnet keys playback`) plays only with a token (`castnet keys token`) on playlists and segments at both
// tiers; a public stream beside it plays as before; a real Chromium player with the token plays.

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { runKeys } from '../cli/keys.ts';
import { createRelay, type Relay } from '../relay/relay.ts';
import { makePlaybackToken } from '../protocol/playback-token.ts';
import { launchChromium, samplePlayer, type PlaybackSample } from './support/browser.ts';
import { publish, startNetwork, stopAll, testLogger, waitFor, type Publisher, type TestNetwork } from './support/network.ts';

async function cli(args: string[]): Promise<string> {
  let out = '';
  const code = await runKeys(args, (s) => (out += s));
  assert.equal(code, 0, out);
  return out;
}

async function refusal(url: string, headers: Record<string, string> = {}): Promise<{ status: number; reason: unknown }> {
  const res = await fetch(url, { headers });
  const body = (await res.json()) as { error: { reason?: unknown } };
  return { status: res.status, reason: body.error.reason };
}

describe('signed playback', () => {
  let net: TestNetwork;
  let origin: Relay;
  let edge: Relay;
  let browser: Browser | undefined;
  const publishers: Publisher[] = [];
  let signedId = '';
  let publicId = '';
  let token = '';
  let privateJwk: Record<string, string>;
  let kid = '';

  beforeAll(async () => {
    net = await startNetwork({}, {}, 10n ** 18n, { relay: false });
    // The origin records, so its recordings and rewind window are checked too.
    origin = await createRelay({ httpPort: 0, dataDir: mkdtempSync(join(tmpdir(), 'castnet-signed-origin-')), recording: true, orchestrator: net.orchestrator.url, allowPrivateNodes: true }, { logger: testLogger });
    await origin.start();
    net.relay = origin;
    edge = await createRelay({ httpPort: 0, dataDir: null, orchestrator: net.orchestrator.url, allowPrivateNodes: true, edge: true }, { logger: testLogger });
    await waitFor('the origin proved', () => net.orchestrator.nodes.schedulable('relay').length === 1, 15_000, 50);
    await edge.start();
    await waitFor('both relays proved', () => net.orchestrator.nodes.schedulable('relay').length === 2, 15_000, 50);

    // The streamer's side: a key for signed playback, made and registered by the CLI, as the README says.
    await cli(['add', 'sk_signed', '--data-dir', net.dataDir]);
    await cli(['add', 'sk_public', '--data-dir', net.dataDir]);
    const printed = await cli(['playback', 'sk_signed', '--alg', 'ES256', '--data-dir', net.dataDir]);
    assert.match(printed, /policy: +signed/);
    signedId = net.broadcaster.keys.resolve('sk_signed');
    publicId = net.broadcaster.keys.resolve('sk_public');
    token = (await cli(['token', signedId, '--expires', '1h', '--data-dir', net.dataDir])).trim();
    const entry = net.broadcaster.keys.list().find((k) => k.playbackId === signedId)!;
    privateJwk = entry.playback!.es256[0]!.privateJwk;
    kid = entry.playback!.es256[0]!.publicJwk.kid;

    // Small sources: every rung of the ladder is above them, so nothing is transcoded (the test is about relays).
    for (const key of ['sk_signed', 'sk_public']) publishers.push(publish(`${net.broadcaster.rtmpUrl}/${key}`, { width: 320, height: 180 }));
    for (const id of [signedId, publicId]) {
      await waitFor(`segments of ${id} on the origin`, async () => {
        const res = await fetch(`${origin.url}/hls/${id}/source/index.m3u8?token=${token}`);
        return res.ok && ((await res.text()).match(/\.ts$/gm) ?? []).length >= 2;
      }, 60_000, 200);
    }
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await edge?.stop();
    await stopAll(publishers, net);
  });

  const paths = async (id: string) => {
    const media = await (await fetch(`${origin.url}/hls/${id}/source/index.m3u8?token=${token}`)).text();
    const seq = /(\d+)\.ts\s*$/.exec(media)![1];
    return [`/hls/${id}/master.m3u8`, `/hls/${id}/source/index.m3u8`, `/hls/${id}/source/${seq}.ts`];
  };

  it('publishes a publisher-signed policy with the ES256 key in the directory and at the origin', async () => {
    const entry = (await (await fetch(`${net.orchestrator.url}/api/streams/${signedId}`)).json()) as { playbackPolicy: { policy: { mode: string; keys: Array<{ kid: string; d?: string }> } } };
    assert.equal(entry.playbackPolicy.policy.mode, 'signed');
    assert.deepEqual(entry.playbackPolicy.policy.keys.map((k) => k.kid), [kid]);
    assert.equal(entry.playbackPolicy.policy.keys[0]!.d, undefined, 'no private key leaves the broadcaster');
    const doc = (await (await fetch(`${origin.url}/hls/${signedId}/policy.json`)).json()) as { document: { policy: { mode: string } } };
    assert.equal(doc.document.policy.mode, 'signed');
  });

  it("guards a signed stream's recording and rewind window like the live stream: 401 without a token, 200 with one; a public stream's recording needs none", async () => {
    const recordingOf = async (id: string) => {
      const list = (await (await fetch(`${origin.url}/api/recordings?playbackId=${id}`)).json()) as Array<{ recordingId: string; segments: number }>;
      return list[0]?.segments ? list[0].recordingId : undefined;
    };
    const signedRec = await waitFor('a recording of the signed stream', () => recordingOf(signedId), 20_000, 200);
    const publicRec = await waitFor('a recording of the public stream', () => recordingOf(publicId), 20_000, 200);
    const vodMedia = await (await fetch(`${origin.url}/vod/${signedRec}/source/index.m3u8?token=${token}`)).text();
    const vodSegment = new URL(/^(\S+\.ts)$/m.exec(vodMedia)![1]!, `${origin.url}/vod/${signedRec}/source/index.m3u8`).pathname;
    const guarded = [`/vod/${signedRec}/master.m3u8`, `/vod/${signedRec}/source/index.m3u8`, vodSegment, `/vod/${signedRec}/thumbnail.jpg`, `/dvr/${signedId}/master.m3u8`, `/dvr/${signedId}/source/index.m3u8`, `/dvr/${signedId}/thumbnail.jpg`];
    for (const path of guarded) assert.deepEqual(await refusal(`${origin.url}${path}`), { status: 401, reason: 'token_missing' }, path);
    for (const path of guarded.filter((p) => !p.endsWith('.jpg'))) {
      const res = await fetch(`${origin.url}${path}?token=${token}`);
      assert.equal(res.status, 200, path);
      await res.arrayBuffer();
    }
    for (const path of [`/vod/${publicRec}/master.m3u8`, `/dvr/${publicId}/master.m3u8`]) assert.equal((await fetch(`${origin.url}${path}`)).status, 200, path);
  });

  it('answers 401 token_missing on playlists and segments at the origin and the edge without a token', async () => {
    for (const relay of [origin, edge]) {
      for (const path of await paths(signedId)) assert.deepEqual(await refusal(`${relay.url}${path}`), { status: 401, reason: 'token_missing' }, `${relay === edge ? 'edge' : 'origin'} ${path}`);
    }
  });

  it('serves playlists and the same segment bytes at both tiers with a valid token, in the query or as a Bearer header', async () => {
    for (const path of await paths(signedId)) {
      const viaQuery = await Promise.all([origin, edge].map(async (r) => {
        const res = await fetch(`${r.url}${path}?token=${token}`);
        assert.equal(res.status, 200, `${r === edge ? 'edge' : 'origin'} ${path}`);
        return Buffer.from(await res.arrayBuffer());
      }));
      if (path.endsWith('.ts')) assert.ok(viaQuery[0]!.equals(viaQuery[1]!) && viaQuery[0]!.length > 0);
      const viaHeader = await fetch(`${edge.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(viaHeader.status, 200);
      await viaHeader.arrayBuffer();
    }
  });

  it('refuses an expired token with 403 token_expired, a token for another stream with 403 wrong_playback_id, a tampered one with 401 token_invalid', async () => {
    const expired = await makePlaybackToken({ playbackId: signedId, key: { alg: 'ES256', kid, privateJwk }, expiresInSeconds: 60, now: Date.now() - 10 * 60_000 });
    const other = await makePlaybackToken({ playbackId: publicId, key: { alg: 'ES256', kid, privateJwk }, expiresInSeconds: 3600 });
    const [h, p, s] = token.split('.');
    const tampered = `${h}.${p}.${s!.slice(0, -4)}${s!.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    for (const relay of [origin, edge]) {
      for (const path of await paths(signedId)) {
        assert.deepEqual(await refusal(`${relay.url}${path}?token=${expired}`), { status: 403, reason: 'token_expired' });
        assert.deepEqual(await refusal(`${relay.url}${path}?token=${other}`), { status: 403, reason: 'wrong_playback_id' });
        assert.deepEqual(await refusal(`${relay.url}${path}?token=${tampered}`), { status: 401, reason: 'token_invalid' });
      }
    }
  });

  it('serves a public stream at both tiers without a token', async () => {
    for (const relay of [origin, edge]) {
      for (const path of await paths(publicId)) {
        const res = await fetch(`${relay.url}${path}`);
        assert.equal(res.status, 200, `${relay === edge ? 'edge' : 'origin'} ${path}`);
        await res.arrayBuffer();
      }
    }
  });

  it('issues viewer sessions of a signed stream only to token holders', async () => {
    const ask = (headers: Record<string, string>) => fetch(`${net.broadcaster.httpUrl}/delivery/sessions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ playbackId: signedId, sessionKey: `0x${'11'.repeat(20)}` }) });
    const refused = await ask({});
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as { error: { reason: string } }).error.reason, 'token_missing');
    const admitted = await ask({ authorization: `Bearer ${token}` });
    assert.ok(admitted.status !== 401 && admitted.status !== 403, `the token passed the payer's check (answered ${admitted.status})`);
  });

  it('plays in Chromium through the edge with the token on the watch page URL, and a player without one says it needs a token', async () => {
    browser = await launchChromium();
    const page = await browser.newPage();
    await page.goto(`${edge.url}/watch/${signedId}?token=${encodeURIComponent(token)}`);
    await waitFor('playback with the token', async () => (((await page.evaluate(samplePlayer)) as PlaybackSample | null)?.currentTime ?? 0) > 4, 60_000, 200);
    const sample = (await page.evaluate(samplePlayer)) as PlaybackSample;
    assert.ok((sample.verification?.verified ?? 0) > 0, 'segments verified');
    const attr = await browser.newPage();
    await attr.goto(`${origin.url}/watch/${signedId}`);
    await attr.evaluate(`document.querySelector('castnet-player').setAttribute('token', ${JSON.stringify(token)})`);
    await waitFor('playback with the token attribute', async () => (((await attr.evaluate(samplePlayer)) as PlaybackSample | null)?.currentTime ?? 0) > 2, 60_000, 200);
    const bare = await browser.newPage();
    await bare.goto(`${edge.url}/watch/${signedId}`);
    const errors = await waitFor('the unauthorized state', async () => {
      const s = (await bare.evaluate(samplePlayer)) as PlaybackSample | null;
      return s?.errors.find((e) => e.startsWith('unauthorized')) ? s.errors : undefined;
    }, 30_000, 200);
    assert.ok(errors.includes('unauthorized: token_missing'), errors.join(', '));
    for (const p of [page, attr, bare]) await p.close();
  }, 120_000);
});
