// The orchestrator client's failure decoding, against an in-process server answering each failure shape
// and a port nobody listens on, and its injected fetch. (Its round trips with a real orchestrator are in
// orchestrator/api-routes.test.ts.)

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { OrchestratorClient } from './orchestrator-client.ts';
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
