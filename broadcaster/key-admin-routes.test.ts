// The broadcaster's stream-key admin routes on a real broadcaster (its HTTP port, its key store in a temp
// data directory): every refusal says why and makes no key; a key made here publishes at once.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'vitest';
import { createBroadcaster, type Broadcaster, type BroadcasterOptions } from './broadcaster.ts';
import { silentLogger } from '../observability/logger.ts';
import { adminTokenPath, loadOrCreateAdminToken } from '../http/admin-token.ts';
import { STREAM_KEY_ADMIN_PATH, streamKeyCreatedSchema, streamKeyListSchema } from '../protocol/stream-key-admin.ts';
import { closedPort } from '../test/support/ports.ts';
import { resolveOptions } from '../cli/options.ts';
import { broadcasterOptionsDefinition } from './options.ts';

describe('broadcaster stream-key admin routes', () => {
  let broadcaster: Broadcaster | null = null;
  let dataDir: string | null = null;
  afterEach(async () => {
    await broadcaster?.stop();
    broadcaster = null;
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    dataDir = null;
  });

  async function start(options: Partial<BroadcasterOptions> = {}): Promise<{ url: string; auth: Record<string, string>; b: Broadcaster }> {
    dataDir = mkdtempSync(join(tmpdir(), 'castnet-key-admin-'));
    broadcaster = await createBroadcaster({ dataDir, rtmpPort: 0, httpPort: 0, orchestrator: `http://127.0.0.1:${await closedPort()}`, ...options }, { logger: silentLogger });
    await broadcaster.start();
    return { url: `${broadcaster.httpUrl}${STREAM_KEY_ADMIN_PATH}`, auth: { authorization: `Bearer ${broadcaster.adminToken}` }, b: broadcaster };
  }

  const reasonOf = async (res: Response) => ((await res.json()) as { error: { reason: string } }).error.reason;

  it('refuses a request without a token (401 token_missing) and makes no key', async () => {
    const { url, b } = await start();
    for (const method of ['POST', 'GET']) {
      const res = await fetch(url, { method });
      assert.equal(res.status, 401, method);
      assert.equal(await reasonOf(res), 'token_missing');
    }
    assert.equal(b.keys.list().length, 0);
  });

  it("refuses a wrong token and another data directory's token (401 token_wrong)", async () => {
    const { url, b } = await start();
    for (const token of ['nope', loadOrCreateAdminToken(null)]) {
      const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401);
      assert.equal(await reasonOf(res), 'token_wrong');
    }
    assert.equal(b.keys.list().length, 0);
  });

  it('refuses the token in the query string even when it is right (400 token_in_query)', async () => {
    const { url, auth, b } = await start();
    const res = await fetch(`${url}?token=${b.adminToken}`, { method: 'POST', headers: auth });
    assert.equal(res.status, 400);
    assert.equal(await reasonOf(res), 'token_in_query');
    assert.equal(b.keys.list().length, 0);
  });

  it('refuses a body that is not a stream-key request (400 with a reason) and one past the byte limit (413)', async () => {
    const { url, auth, b } = await start();
    const post = (body: string) => fetch(url, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body });
    const notJson = await post('{"record":');
    assert.equal(notJson.status, 400);
    assert.equal(await reasonOf(notJson), 'malformed_json');
    for (const body of ['{"streamKey":"sk_chosen"}', '{"record":1}', '"x"', 'null']) {
      const res = await post(body);
      assert.equal(res.status, 400, body);
      assert.equal(await reasonOf(res), 'bad_stream_key_request', body);
    }
    const huge = await post(JSON.stringify({ pad: 'x'.repeat(64 * 1024) }));
    assert.equal(huge.status, 413);
    assert.equal(((await huge.json()) as { error: { code: string } }).error.code, 'PAYLOAD_TOO_LARGE');
    assert.equal(b.keys.list().length, 0);
  });

  it('rate-limits admin requests per address: past the burst, even the right token waits (429)', async () => {
    const { url, auth, b } = await start();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await fetch(url, { method: 'POST', headers: { authorization: 'Bearer guess' } })).status);
    assert.ok(statuses.includes(429), statuses.join(','));
    const right = await fetch(url, { method: 'POST', headers: auth });
    assert.equal(right.status, 429);
    assert.equal(await reasonOf(right), 'admin_token_rate');
    assert.equal(b.keys.list().length, 0);
  });

  it('with --no-key-admin refuses every request, the right token too (403 key_admin_off)', async () => {
    const { url, auth, b } = await start({ keyAdmin: false });
    for (const method of ['POST', 'GET']) {
      const res = await fetch(url, { method, headers: auth });
      assert.equal(res.status, 403, method);
      assert.equal(await reasonOf(res), 'key_admin_off');
    }
    assert.equal(b.keys.list().length, 0);
  });

  it('makes a configured key that publishes at once, with the OBS settings and the watch URL', async () => {
    const { url, auth, b } = await start({ watchBaseUrl: 'https://watch.example' });
    const res = await fetch(url, { method: 'POST', headers: auth });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const key = streamKeyCreatedSchema.parse(await res.json());
    assert.equal(key.server, b.rtmpUrl);
    assert.deepEqual([key.obs.server, key.obs.streamKey], [b.rtmpUrl, key.streamKey]);
    assert.match(key.obs.keyframeInterval, /2 s/);
    assert.equal(key.watchUrl, `https://watch.example/watch/${key.playbackId}`);
    // Not a dev key: it publishes outside dev mode (this broadcaster has none), and is the store's.
    assert.equal(b.keys.resolve(key.streamKey), key.playbackId);
    assert.equal(b.keys.list()[0]!.origin, 'configured');
    const unrecorded = streamKeyCreatedSchema.parse(await (await fetch(url, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"record":false}' })).json());
    assert.equal(b.keys.settingsOf(unrecorded.playbackId).record, false);
    assert.equal(b.keys.settingsOf(key.playbackId).record, true);
  });

  it('in dev mode makes a dev key, so the open door and the dev keys already handed out keep publishing', async () => {
    const { url, auth, b } = await start({ dev: true, rtmpPublicUrl: 'rtmp://live.example.com/live' });
    const printed = b.keys.resolve('sk_printed_by_castnet_dev');
    const key = streamKeyCreatedSchema.parse(await (await fetch(url, { method: 'POST', headers: auth })).json());
    assert.deepEqual([key.server, key.obs.server], ['rtmp://live.example.com/live', 'rtmp://live.example.com/live']);
    assert.equal(b.keys.resolve(key.streamKey), key.playbackId);
    assert.equal(b.keys.resolve('sk_printed_by_castnet_dev'), printed);
    assert.ok(b.keys.resolve('sk_any_other_key'), 'any key still publishes in dev mode');
  });

  it('takes only an rtmp(s) URL ending in /live as --rtmp-public-url', () => {
    const quiet = { env: {}, warn: () => {} };
    assert.equal(resolveOptions(broadcasterOptionsDefinition, ['--rtmp-public-url', 'rtmps://live.example.com:443/live/'], quiet).rtmpPublicUrl, 'rtmps://live.example.com:443/live');
    for (const bad of ['http://live.example.com/live', 'rtmp://live.example.com/app', 'rtmp://user:pw@live.example.com/live']) {
      assert.throws(() => resolveOptions(broadcasterOptionsDefinition, ['--rtmp-public-url', bad], quiet), /--rtmp-public-url takes an rtmp:\/\/ URL/, bad);
    }
  });

  it("lists keys with their playback ids and nothing else: no webhook secret, no playback signing key", async () => {
    const { url, auth, b } = await start();
    const { streamKey } = b.keys.add();
    const webhookSecret = 'whsec_never_listed_0123456789';
    const hs256 = 'hs256_never_listed_0123456789012345678901234567';
    b.keys.update(streamKey, (e) => {
      e.webhooks = [{ url: 'https://hooks.example/castnet', secret: webhookSecret }];
      e.playback = { mode: 'signed', es256: [], hs256: [{ kid: 'k1', secret: hs256 }] };
    });
    const res = await fetch(url, { headers: auth });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(!text.includes(webhookSecret) && !text.includes(hs256) && !text.includes('hooks.example'), text);
    const list = streamKeyListSchema.parse(JSON.parse(text));
    assert.deepEqual(Object.keys(list.keys[0]!).sort(), ['createdAt', 'playbackId', 'streamKey']);
    assert.equal(list.keys[0]!.streamKey, streamKey);
    assert.equal(list.server, b.rtmpUrl);
  });

  it("keeps its admin token in its data directory (0600), the one castnet keys admin-token prints", async () => {
    const { b } = await start();
    assert.equal(statSync(adminTokenPath(dataDir!)).mode & 0o777, 0o600);
    assert.equal(loadOrCreateAdminToken(dataDir), b.adminToken);
  });
});
