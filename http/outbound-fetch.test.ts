// The outbound fetch between nodes against real local servers: private addresses refused by literal and by
// what a name resolves to (at connect time), redirects never followed, userinfo and other schemes refused.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { OutboundRefusedError, outboundFetch, type OutboundRefusal } from './outbound-fetch.ts';

describe('outbound fetch', () => {
  let server: Server;
  let port = 0;
  let requests = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      if (req.url === '/redirect') res.writeHead(302, { location: `http://127.0.0.1:${port}/metrics` }).end();
      else res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const refusedWith = async (call: Promise<unknown>, reason: OutboundRefusal) => {
    const err = await call.then(() => assert.fail('expected a refusal'), (e: unknown) => e);
    assert.ok(err instanceof OutboundRefusedError, String(err));
    assert.equal(err.reason, reason);
    return err;
  };

  it('reaches loopback when private nodes are allowed', async () => {
    const res = await outboundFetch({ allowPrivate: true })(`http://127.0.0.1:${port}/`);
    assert.equal(await res.text(), 'ok');
  });

  it('refuses a private literal address, and a name that resolves to one, before any request is made', async () => {
    const refused: string[] = [];
    const fetch = outboundFetch({ allowPrivate: false, onRefused: (reason) => refused.push(reason) });
    const before = requests;
    await refusedWith(fetch(`http://127.0.0.1:${port}/`), 'private_address');
    await refusedWith(fetch(`http://[::ffff:127.0.0.1]:${port}/`), 'private_address');
    const byName = await refusedWith(fetch(`http://localhost:${port}/`), 'private_address');
    assert.match(byName.message, /localhost resolves to/);
    assert.equal(requests, before, 'the server never saw a request');
    assert.deepEqual(refused, ['private_address', 'private_address', 'private_address']);
  });

  it('reaches an operator-trusted origin on a private address', async () => {
    const fetch = outboundFetch({ allowPrivate: false, trustedOrigins: [`http://127.0.0.1:${port}`] });
    assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200);
  });

  it('never follows a redirect', async () => {
    const before = requests;
    const err = await refusedWith(outboundFetch({ allowPrivate: true })(`http://127.0.0.1:${port}/redirect`), 'redirect');
    assert.match(err.message, /302.*not followed/);
    assert.equal(requests, before + 1, 'only the redirecting request was made');
  });

  it('refuses userinfo and schemes other than http(s)', async () => {
    const fetch = outboundFetch({ allowPrivate: true });
    await refusedWith(fetch(`http://user:secret@127.0.0.1:${port}/`), 'url_userinfo');
    await refusedWith(fetch('file:///etc/passwd'), 'url_scheme');
  });
});
