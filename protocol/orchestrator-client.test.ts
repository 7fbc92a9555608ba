// The orchestrator client's failure decoding, against an in-process server answering each failure shape
// and a port nobody listens on, and its injected fetch. (Its round trips with a real orchestrator are in
// orchestrator/api-routes.test.ts.)

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { identityFromPrivateKey } from './identity.ts';
import { OrchestratorClient } from './orchestrator-client.ts';
import { RequestVerifier, SIGNED_REQUEST_HEADERS } from './signed-request.ts';
import { rejectsWith } from '../test/support/assertions.ts';

function listenOn(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server })));
}


describe('OrchestratorClient failure decoding', () => {
  let server: Server;
  let client: OrchestratorClient;

  beforeAll(async () => {
    const started = await listenOn((req, res) => {
      const answer = (status: number, body: string, type = 'application/json') => res.writeHead(status, { 'content-type': type }).end(body);
      switch (req.url) {
        case '/api/streams/castnet-error/relays':
          return answer(402, JSON.stringify({ error: { code: 'PAYMENT_REQUIRED', message: 'pay first', reason: 'insufficient_value' } }));
        case '/api/streams/unknown-code/relays':
          return answer(418, JSON.stringify({ error: { code: 'TEAPOT', message: 'short and stout' } }));
        case '/api/streams/not-json/relays':
          return answer(502, '<html>bad gateway</html>', 'text/html');
        case '/api/streams/empty/relays':
          return answer(500, '');
        case '/api/streams/bad-answer/relays':
          return answer(200, JSON.stringify({ relays: 'not a list' }));
        case '/api/streams/truncated/relays':
          return answer(200, '["http://a');
        case '/api/streams/redirect/relays':
          return res.writeHead(302, { location: '/api/streams/castnet-error/relays' }).end();
        case '/api/streams/endless/relays':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('["');
          // Far past the 1 MiB an answer may hold; the client stops reading at the limit.
          for (let i = 0; i < 64; i++) res.write('x'.repeat(64 * 1024));
          return res.end('"]');
        default:
          return answer(404, '{}');
      }
    });
    server = started.server;
    client = new OrchestratorClient(started.url);
  });
  afterAll(() => new Promise<void>((done) => server.close(() => done())));

  it('keeps a Castnet error answer\'s code, reason, status and the node it came from', async () => {
    const err = await rejectsWith(client.relaysFor('castnet-error'), { code: 'PAYMENT_REQUIRED', status: 402, reason: 'insufficient_value', message: /pay first/ });
    assert.equal(err.context.node, client.baseUrl);
  });

  it('reads an unknown code, a non-JSON body or an empty body as UPSTREAM_FAILED with the status', async () => {
    await rejectsWith(client.relaysFor('unknown-code'), { code: 'UPSTREAM_FAILED', status: 418, message: /short and stout/ });
    await rejectsWith(client.relaysFor('not-json'), { code: 'UPSTREAM_FAILED', status: 502 });
    await rejectsWith(client.relaysFor('empty'), { code: 'UPSTREAM_FAILED', status: 500 });
  });

  it('refuses a successful answer that does not fit its schema, or is cut short', async () => {
    await rejectsWith(client.relaysFor('bad-answer'), { code: 'UPSTREAM_FAILED', status: 200, message: /invalid/ });
    await rejectsWith(client.relaysFor('truncated'), { code: 'UPSTREAM_FAILED', status: 200 });
  });

  it('follows no redirect, and reads no answer past its limit', async () => {
    await rejectsWith(client.relaysFor('redirect'), { code: 'UPSTREAM_FAILED', status: 302, reason: 'redirect' });
    await rejectsWith(client.relaysFor('endless'), { code: 'UPSTREAM_FAILED', reason: 'too_large', message: /exceeds the limit/ });
  });

  it('signs every write with its identity, over the body bytes it sends, and leaves reads unsigned', async () => {
    const identity = identityFromPrivateKey(randomBytes(32));
    const seen: Array<{ method: string; path: string; headers: Headers; body: Uint8Array }> = [];
    const recording: typeof fetch = async (input, init) => {
      const url = new URL(String(input));
      seen.push({ method: init?.method ?? 'GET', path: `${url.pathname}${url.search}`, headers: new Headers(init?.headers), body: (init?.body as Uint8Array | undefined) ?? new Uint8Array(0) });
      return new Response(null, { status: 204 });
    };
    const signed = new OrchestratorClient('http://orchestrator.invalid', { fetch: recording, identity });
    await signed.closeSession('abc');
    await signed.closeSession('abc');
    await signed.heartbeat(identity.address, { sessions: 1, inFlight: 0 });
    await signed.health();
    const verifier = new RequestVerifier();
    for (const r of seen.slice(0, 3)) assert.equal(verifier.verify({ ...r, header: (n) => r.headers.get(n) ?? undefined }), identity.address);
    assert.equal(seen[3]!.headers.get(SIGNED_REQUEST_HEADERS.signature), null);
  });

  it('names the URL when nothing listens there', async () => {
    const closed = await listenOn(() => {});
    await new Promise<void>((done) => closed.server.close(() => done()));
    const refused = new OrchestratorClient(closed.url);
    await rejectsWith(refused.streams(), { code: 'UPSTREAM_FAILED', message: new RegExp(`${closed.url}/api/streams.*could not be reached`) });
  });

  it('uses the fetch it is given', async () => {
    const seen: string[] = [];
    const recording: typeof fetch = async (input) => {
      seen.push(String(input));
      return new Response('["http://127.0.0.1:1001"]', { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const injected = new OrchestratorClient('http://orchestrator.invalid', { fetch: recording });
    assert.deepEqual(await injected.relaysFor('s', { holding: true }), ['http://127.0.0.1:1001']);
    assert.deepEqual(seen, ['http://orchestrator.invalid/api/streams/s/relays?holding=1']);
  });
});
