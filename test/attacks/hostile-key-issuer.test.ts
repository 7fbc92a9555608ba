// Attack: an orchestrator whose dashboard makes stream keys at a broadcaster elsewhere (--key-issuer-url)
// is pointed at a hostile or broken issuer: one that answers junk, the wrong shape, an endless or oversized
// body, nothing at all, a trickle, a redirect, an error with a page-long message, or no longer listens. Each
// dashboard call ends within the issuer timeout with a clear refusal (502 key_issuer_bad_answer or
// key_issuer_failed, 503 key_issuer_unreachable), the orchestrator keeps answering meanwhile, and the
// redirect carries the token nowhere.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createOrchestrator, type Orchestrator } from '../../orchestrator/orchestrator.ts';
import { newAdminToken } from '../../http/admin-token.ts';
import { closedPort } from '../support/ports.ts';
import { metric, testLogger } from '../support/network.ts';

const ISSUER_TIMEOUT_MS = 800;
/** What one refused call may take at most: the issuer timeout and the time to answer. */
const CALL_BOUND_MS = ISSUER_TIMEOUT_MS + 1_500;

type Behaviour = (req: IncomingMessage, res: ServerResponse) => void;

/** An HTTP server whose every answer is `behaviour`; it counts requests and remembers what they carried. */
async function hostileServer(): Promise<{ url: string; server: Server; behave(b: Behaviour): void; requests: Array<{ path: string; authorization: string | undefined }>; close(): Promise<void> }> {
  let behaviour: Behaviour = (_req, res) => res.end();
  const requests: Array<{ path: string; authorization: string | undefined }> = [];
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    requests.push({ path: req.url ?? '', authorization: req.headers.authorization });
    open.add(res);
    res.on('close', () => open.delete(res));
    req.resume();
    behaviour(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    behave: (b) => (behaviour = b),
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

describe('attack: a hostile stream-key issuer', () => {
  let dir: string;
  let issuer: Awaited<ReturnType<typeof hostileServer>>;
  let elsewhere: Awaited<ReturnType<typeof hostileServer>>;
  let orchestrator: Orchestrator;
  let dead: Orchestrator;
  const token = newAdminToken();
  const timers = new Set<NodeJS.Timeout>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'castnet-hostile-issuer-'));
    const tokenFile = join(dir, 'issuer-token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    issuer = await hostileServer();
    elsewhere = await hostileServer();
    orchestrator = await createOrchestrator({ httpPort: 0, dataDir: null, keyIssuerUrl: issuer.url, keyIssuerTokenFile: tokenFile, keyIssuerTimeoutMs: ISSUER_TIMEOUT_MS }, { logger: testLogger });
    await orchestrator.start();
    dead = await createOrchestrator({ httpPort: 0, dataDir: null, keyIssuerUrl: `http://127.0.0.1:${await closedPort()}`, keyIssuerTokenFile: tokenFile, keyIssuerTimeoutMs: ISSUER_TIMEOUT_MS }, { logger: testLogger });
    await dead.start();
  });
  afterAll(async () => {
    for (const t of timers) clearInterval(t);
    await Promise.all(agents.map((a) => a.close()));
    await orchestrator?.stop();
    await dead?.stop();
    await issuer?.close();
    await elsewhere?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // Each dashboard call from its own loopback address: the admin gate's per-address rate limit is tested
  // elsewhere, and would otherwise answer 429 to the later cases here.
  let source = 10;
  const agents: Agent[] = [];

  /** A dashboard call with the orchestrator's own admin token: its status, error and how long it took. */
  async function dashboard(o: Orchestrator, method: 'POST' | 'GET'): Promise<{ status: number; reason: string; message: string; issuerStatus?: number; ms: number }> {
    const agent = new Agent({ localAddress: `127.0.0.${source++}` });
    agents.push(agent);
    const started = Date.now();
    const res = await fetch(`${o.url}/dashboard/stream-keys`, { method, headers: { authorization: `Bearer ${o.adminToken}` }, signal: AbortSignal.timeout(10_000), dispatcher: agent } as RequestInit);
    const body = (await res.json()) as { error?: { reason: string; message: string; issuerStatus?: number } };
    return { status: res.status, reason: body.error?.reason ?? '', message: body.error?.message ?? '', ...(body.error?.issuerStatus ? { issuerStatus: body.error.issuerStatus } : {}), ms: Date.now() - started };
  }

  const json = (status: number, value: unknown): Behaviour => (_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));

  const cases: Array<{ name: string; behaviour: Behaviour; status: number; reason: string }> = [
    { name: 'junk that is not JSON', behaviour: (_req, res) => res.writeHead(201, { 'content-type': 'application/json' }).end('<html>hello</html>'), status: 502, reason: 'key_issuer_bad_answer' },
    {
      name: 'JSON of the wrong shape (a script URL as the RTMP server, no OBS settings)',
      behaviour: json(201, { streamKey: 'sk ok', playbackId: '../../etc', server: 'javascript:alert(1)', watchUrl: 'javascript:alert(1)', keys: [] }),
      status: 502,
      reason: 'key_issuer_bad_answer',
    },
    { name: 'a body that declares 100 MB', behaviour: (_req, res) => res.writeHead(201, { 'content-type': 'application/json', 'content-length': String(100 * 1024 * 1024) }).write('{"streamKey":"'), status: 502, reason: 'key_issuer_bad_answer' },
    {
      name: 'an endless chunked body',
      behaviour: (_req, res) => {
        res.writeHead(201, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        const pump = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
      },
      status: 502,
      reason: 'key_issuer_bad_answer',
    },
    { name: 'no answer at all', behaviour: () => {}, status: 503, reason: 'key_issuer_unreachable' },
    {
      name: 'headers, then a byte every 100 ms',
      behaviour: (_req, res) => {
        res.writeHead(201, { 'content-type': 'application/json' });
        const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(' ')), 100);
        timers.add(t);
      },
      status: 503,
      reason: 'key_issuer_unreachable',
    },
    { name: 'an error with a page-long message', behaviour: json(500, { error: { code: 'INTERNAL', message: `<script>${'x'.repeat(50_000)}</script>`, reason: 'evil reason with spaces' } }), status: 502, reason: 'key_issuer_failed' },
  ];

  for (const c of cases) {
    it(`answers ${c.status} ${c.reason} within the issuer timeout when the issuer sends ${c.name}, for a create and a list`, async () => {
      issuer.behave(c.behaviour);
      for (const method of ['POST', 'GET'] as const) {
        const [answer, health] = await Promise.all([dashboard(orchestrator, method), fetch(`${orchestrator.url}/healthz`, { signal: AbortSignal.timeout(2_000) })]);
        assert.equal(health.status, 200, 'the orchestrator answers other requests meanwhile');
        assert.deepEqual([answer.status, answer.reason], [c.status, c.reason], `${method}: ${answer.message}`);
        assert.ok(answer.ms < CALL_BOUND_MS, `${method} took ${answer.ms} ms`);
        assert.ok(answer.message.length < 1_000, `the refusal quotes a line, not the issuer's page (${answer.message.length} characters)`);
        assert.ok(!answer.message.includes(issuer.url), 'the issuer URL is not told to the dashboard');
      }
    });
  }

  it('keeps the issuer\'s status and a safe reason: a 401 there says the orchestrator holds the wrong token', async () => {
    issuer.behave(json(401, { error: { code: 'UNAUTHORIZED', message: 'wrong admin token', reason: 'token_wrong' } }));
    const answer = await dashboard(orchestrator, 'POST');
    assert.deepEqual([answer.status, answer.reason, answer.issuerStatus], [502, 'key_issuer_failed', 401]);
    assert.match(answer.message, /--key-issuer-token-file/);
  });

  it('follows no redirect: the token goes to the configured issuer only', async () => {
    const before = elsewhere.requests.length;
    issuer.behave((_req, res) => res.writeHead(307, { location: `${elsewhere.url}/admin/stream-keys` }).end());
    const answer = await dashboard(orchestrator, 'POST');
    assert.deepEqual([answer.status, answer.reason], [502, 'key_issuer_bad_answer'], answer.message);
    assert.equal(elsewhere.requests.length, before, 'nothing reached the redirect target');
    assert.ok(issuer.requests.every((r) => r.authorization === `Bearer ${token}` && r.path === '/admin/stream-keys'), 'the issuer got the token in the header, on the admin path only');
  });

  it('answers 503 key_issuer_unreachable at once when nothing listens at the issuer URL', async () => {
    for (const method of ['POST', 'GET'] as const) {
      const answer = await dashboard(dead, method);
      assert.deepEqual([answer.status, answer.reason], [503, 'key_issuer_unreachable'], answer.message);
      assert.ok(answer.ms < CALL_BOUND_MS, `${method} took ${answer.ms} ms`);
    }
  });

  it('counts every call by its result', async () => {
    for (const result of ['key_issuer_bad_answer', 'key_issuer_unreachable', 'key_issuer_failed']) {
      for (const call of ['create', 'list']) {
        const n = await metric(orchestrator.url, new RegExp(`^castnet_orchestrator_key_issuer_calls_total\\{[^}]*call="${call}",result="${result}"`));
        assert.ok(n >= 1, `${call} ${result}: ${n}`);
      }
    }
  });

  it('checks its own admin token before it calls the issuer', async () => {
    const before = issuer.requests.length;
    const res = await fetch(`${orchestrator.url}/dashboard/stream-keys`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 401, "the issuer's token is not the dashboard's");
    assert.equal(issuer.requests.length, before);
  });
});
