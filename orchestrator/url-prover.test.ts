// URL proofs against real node skeletons and hostile servers: the node's key proves, another key, a
// redirect, an oversized or malformed answer, a private address and silence do not, each with a reason.

import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { outboundFetch } from '../http/outbound-fetch.ts';
import { randomIdentity, startNodeStub, type NodeStub } from '../test/support/node-stub.ts';
import { rejectsWith } from '../test/support/assertions.ts';
import { UrlProver } from './url-prover.ts';

describe('URL prover', () => {
  let node: NodeStub;
  const servers: Server[] = [];

  /** A "node" that answers every request with `handler`. */
  async function hostile(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  beforeAll(async () => {
    node = await startNodeStub('transcoder');
  });
  afterAll(async () => {
    await node.close();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  });

  const prover = (allowPrivate = true) => new UrlProver({ fetch: outboundFetch({ allowPrivate }), timeoutMs: 2_000 });

  it("proves the node's own key at its URL", async () => {
    await prover().prove(node.url, node.identity.address);
  });

  it('refuses another key at that URL, and says whose key answered', async () => {
    const err = await rejectsWith(prover().prove(node.url, randomIdentity().address), { code: 'FORBIDDEN', reason: 'proof_wrong_key' });
    assert.match(err.message, new RegExp(node.identity.address));
  });

  it('refuses a redirect to the real node, a malformed or oversized answer, a private address and a closed port', async () => {
    const redirecting = await hostile((req, res) => res.writeHead(307, { location: `${node.url}${req.url}` }).end());
    await rejectsWith(prover().prove(redirecting, node.identity.address), { code: 'FORBIDDEN', reason: 'redirect' });
    const malformed = await hostile((_req, res) => res.end('{"address":"nope"}'));
    await rejectsWith(prover().prove(malformed, node.identity.address), { code: 'FORBIDDEN', reason: 'proof_malformed' });
    const huge = await hostile((_req, res) => res.end('x'.repeat(10_000)));
    await rejectsWith(prover().prove(huge, node.identity.address), { code: 'FORBIDDEN', reason: 'proof_malformed', message: /exceeds the limit/ });
    await rejectsWith(prover(false).prove(node.url, node.identity.address), { code: 'FORBIDDEN', reason: 'private_address' });
    await rejectsWith(prover().prove('http://127.0.0.1:1', node.identity.address), { code: 'FORBIDDEN', reason: 'proof_unreachable' });
  });
});
