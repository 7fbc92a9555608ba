import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'vitest';
import { createOrchestrator, type Orchestrator } from './orchestrator.ts';
import { createLogger } from '../observability/logger.ts';
import { adminTokenPath, loadOrCreateAdminToken } from '../http/admin-token.ts';
import { createBroadcaster } from '../broadcaster/broadcaster.ts';
import { resolveOptions } from '../cli/options.ts';
import { orchestratorOptionsDefinition } from './options.ts';
import { closedPort } from '../test/support/ports.ts';
import { streamKeyCreated, type StreamKeyCreateRequest, type StreamKeyIssuer } from '../protocol/stream-key-admin.ts';

const logger = createLogger({ level: 'silent' });

/** A real key list in memory, as the broadcaster's store would answer. */
function memoryIssuer(): StreamKeyIssuer & { made: number; requests: StreamKeyCreateRequest[] } {
  const keys: Array<{ streamKey: string; playbackId: string; createdAt: string }> = [];
  const server = 'rtmp://127.0.0.1:1935/live';
  return {
    made: 0,
    requests: [],
    async create(request) {
      this.made++;
      this.requests.push(request);
      const k = { streamKey: `sk_test${keys.length}`, playbackId: `pb${keys.length}`, createdAt: new Date().toISOString() };
      keys.push(k);
      return streamKeyCreated(k, server, null);
    },
    list: async () => ({ server, keys }),
  };
}

describe('dashboard stream-key routes (attacks)', () => {
  let orchestrator: Orchestrator | null = null;
  let dir: string | null = null;
  afterEach(async () => {
    await orchestrator?.stop();
    orchestrator = null;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  async function start(): Promise<{ url: string; issuer: ReturnType<typeof memoryIssuer> }> {
    orchestrator = await createOrchestrator({ httpPort: 0, dataDir: null }, { logger });
    await orchestrator.start();
    const issuer = memoryIssuer();
    orchestrator.attachStreamKeys(issuer);
    return { url: orchestrator.url, issuer };
  }

  const reasonOf = async (res: Response) => ((await res.json()) as { error: { reason: string } }).error.reason;

  it('refuses key creation without a token (401), makes no key', async () => {
    const { url, issuer } = await start();
    const res = await fetch(`${url}/dashboard/stream-keys`, { method: 'POST' });
    assert.equal(res.status, 401);
    assert.equal(await reasonOf(res), 'token_missing');
    assert.equal(issuer.made, 0);
  });

  it('refuses a wrong token (401) and a token of the right shape but another data directory', async () => {
    const { url, issuer } = await start();
    for (const token of ['nope', loadOrCreateAdminToken(null)]) {
      const res = await fetch(`${url}/dashboard/stream-keys`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401);
      assert.equal(await reasonOf(res), 'token_wrong');
    }
    assert.equal(issuer.made, 0);
  });

  it('refuses the token in the query string even when it is right: header only', async () => {
    const { url, issuer } = await start();
    const res = await fetch(`${url}/dashboard/stream-keys?token=${orchestrator!.adminToken}`, { method: 'POST', headers: { authorization: `Bearer ${orchestrator!.adminToken}` } });
    assert.equal(res.status, 400);
    assert.equal(await reasonOf(res), 'token_in_query');
    assert.equal(issuer.made, 0);
  });

  it('ignores cookies: a cross-site form post carrying no header is refused (no CSRF)', async () => {
    const { url, issuer } = await start();
    const res = await fetch(`${url}/dashboard/stream-keys`, { method: 'POST', headers: { cookie: `token=${orchestrator!.adminToken}`, origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${orchestrator!.adminToken}` });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    assert.equal(issuer.made, 0);
  });

  it('makes a key with the token and answers the OBS settings; listing keys needs the token too', async () => {
    const { url } = await start();
    const auth = { authorization: `Bearer ${orchestrator!.adminToken}` };
    const res = await fetch(`${url}/dashboard/stream-keys`, { method: 'POST', headers: auth });
    assert.equal(res.status, 201);
    const key = (await res.json()) as { streamKey: string; server: string; obs: { server: string; streamKey: string; keyframeInterval: string } };
    assert.equal(key.obs.server, 'rtmp://127.0.0.1:1935/live');
    assert.equal(key.obs.streamKey, key.streamKey);
    assert.match(key.obs.keyframeInterval, /2 s/);
    assert.equal((await fetch(`${url}/dashboard/stream-keys`)).status, 401);
    const list = (await (await fetch(`${url}/dashboard/stream-keys`, { headers: auth })).json()) as { keys: Array<{ streamKey: string }> };
    assert.deepEqual(list.keys.map((k) => k.streamKey), [key.streamKey]);
    // The public snapshot never names a stream key.
    assert.ok(!(await (await fetch(`${url}/dashboard/snapshot`)).text()).includes(key.streamKey));
  });

  it('refuses a body that is not a stream-key request (400 with a reason) and one past the byte limit (413), makes no key', async () => {
    const { url, issuer } = await start();
    const auth = { authorization: `Bearer ${orchestrator!.adminToken}`, 'content-type': 'application/json' };
    const post = (body: string) => fetch(`${url}/dashboard/stream-keys`, { method: 'POST', headers: auth, body });
    const notJson = await post('{nope');
    assert.equal(notJson.status, 400);
    assert.equal(await reasonOf(notJson), 'malformed_json');
    for (const body of ['{"streamKey":"sk_mine"}', '{"record":"yes"}', '[]']) {
      const res = await post(body);
      assert.equal(res.status, 400, body);
      assert.equal(await reasonOf(res), 'bad_stream_key_request', body);
    }
    const huge = await post(JSON.stringify({ record: false, pad: 'x'.repeat(4096) }));
    assert.equal(huge.status, 413);
    assert.equal(issuer.made, 0);
    const ok = await post('{"record":false}');
    assert.equal(ok.status, 201);
    assert.deepEqual(issuer.requests, [{ record: false }]);
  });

  it('answers 503 no_key_issuer when no broadcaster makes keys, after the token check', async () => {
    orchestrator = await createOrchestrator({ httpPort: 0, dataDir: null }, { logger });
    await orchestrator.start();
    assert.equal((await fetch(`${orchestrator.url}/dashboard/stream-keys`, { method: 'POST' })).status, 401);
    const res = await fetch(`${orchestrator.url}/dashboard/stream-keys`, { method: 'POST', headers: { authorization: `Bearer ${orchestrator.adminToken}` } });
    assert.equal(res.status, 503);
    assert.equal(await reasonOf(res), 'no_key_issuer');
  });

  it('rate-limits guessing: past the burst, even the right token waits', async () => {
    const { url } = await start();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await fetch(`${url}/dashboard/stream-keys`, { method: 'POST', headers: { authorization: 'Bearer guess' } })).status);
    assert.ok(statuses.includes(429), statuses.join(','));
    const right = await fetch(`${url}/dashboard/stream-keys`, { method: 'POST', headers: { authorization: `Bearer ${orchestrator!.adminToken}` } });
    assert.equal(right.status, 429);
  });

  it('keeps the admin token in the data directory with mode 0600, the same across restarts', async () => {
    dir = mkdtempSync(join(tmpdir(), 'castnet-token-'));
    const first = loadOrCreateAdminToken(dir);
    assert.equal(statSync(adminTokenPath(dir)).mode & 0o777, 0o600);
    assert.equal(loadOrCreateAdminToken(dir), first);
    orchestrator = await createOrchestrator({ httpPort: 0, dataDir: dir }, { logger });
    assert.equal(orchestrator.adminToken, first);
  });

  it('serves the page with a strict content security policy and no secret in it', async () => {
    const { url } = await start();
    const res = await fetch(`${url}/dashboard`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const html = await res.text();
    assert.ok(!html.includes(orchestrator!.adminToken));
    assert.match(html, /<h1>Castnet dashboard<\/h1>/);
  });
});

describe('dashboard stream keys made at a broadcaster elsewhere (--key-issuer-url)', () => {
  const closing: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of closing.splice(0).reverse()) await c();
  });

  it('needs the URL and the token file together', () => {
    const quiet = { env: {}, warn: () => {} };
    assert.throws(() => resolveOptions(orchestratorOptionsDefinition, ['--key-issuer-url', 'http://b.example:8937'], quiet), /--key-issuer-url needs --key-issuer-token-file/);
    assert.throws(() => resolveOptions(orchestratorOptionsDefinition, ['--key-issuer-token-file', '/x'], quiet), /give --key-issuer-url too/);
    const o = resolveOptions(orchestratorOptionsDefinition, [], { env: { CASTNET_KEY_ISSUER_URL: 'http://b.example:8937/', CASTNET_KEY_ISSUER_TOKEN_FILE: '/run/secrets/castnet-broadcaster' }, warn: () => {} });
    assert.deepEqual([o.keyIssuerUrl, o.keyIssuerTokenFile, o.keyIssuerTimeoutMs], ['http://b.example:8937', '/run/secrets/castnet-broadcaster', 5_000]);
  });

  it('refuses to start with a token file that is missing or holds no admin token, naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'castnet-issuer-token-'));
    closing.push(() => rmSync(dir, { recursive: true, force: true }));
    const junk = join(dir, 'junk');
    writeFileSync(junk, 'not a token\n');
    for (const file of [junk, join(dir, 'missing')]) {
      await assert.rejects(createOrchestrator({ httpPort: 0, dataDir: null, keyIssuerUrl: 'http://127.0.0.1:9', keyIssuerTokenFile: file }, { logger }), (err: Error) => err.message.includes(file));
    }
  });

  it("makes and lists keys in a real broadcaster's store with that broadcaster's token", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'castnet-issuer-'));
    closing.push(() => rmSync(dir, { recursive: true, force: true }));
    const broadcaster = await createBroadcaster({ dataDir: join(dir, 'b'), rtmpPort: 0, httpPort: 0, orchestrator: `http://127.0.0.1:${await closedPort()}` }, { logger });
    await broadcaster.start();
    closing.push(() => broadcaster.stop());
    const orchestrator = await createOrchestrator({ httpPort: 0, dataDir: join(dir, 'o'), keyIssuerUrl: broadcaster.httpUrl, keyIssuerTokenFile: adminTokenPath(join(dir, 'b')) }, { logger });
    await orchestrator.start();
    closing.push(() => orchestrator.stop());
    assert.notEqual(orchestrator.adminToken, broadcaster.adminToken, 'each data directory has its own token');
    const auth = { authorization: `Bearer ${orchestrator.adminToken}` };
    const res = await fetch(`${orchestrator.url}/dashboard/stream-keys`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"record":false}' });
    assert.equal(res.status, 201);
    const key = (await res.json()) as { streamKey: string; playbackId: string; server: string; watchUrl: string | null };
    assert.equal(key.server, broadcaster.rtmpUrl);
    assert.equal(key.watchUrl, null);
    assert.equal(broadcaster.keys.resolve(key.streamKey), key.playbackId);
    assert.equal(broadcaster.keys.settingsOf(key.playbackId).record, false);
    const list = (await (await fetch(`${orchestrator.url}/dashboard/stream-keys`, { headers: auth })).json()) as { keys: Array<{ streamKey: string }> };
    assert.deepEqual(list.keys.map((k) => k.streamKey), [key.streamKey]);
    // The broadcaster's own routes take its token, not the orchestrator's.
    assert.equal((await fetch(`${broadcaster.httpUrl}/admin/stream-keys`, { headers: auth })).status, 401);
  });
});
