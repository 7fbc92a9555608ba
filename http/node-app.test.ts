import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'vitest';
import { Registry } from 'prom-client';
import { silentLogger } from '../observability/logger.ts';
import { randomBytes } from 'node:crypto';
import { identityFromPrivateKey } from '../protocol/identity.ts';
import { URL_CHALLENGE_PATH, provesAddress, type ChallengeAnswer } from '../protocol/url-challenge.ts';
import { CASTNET_VERSION, createNodeApp, finishNodeApp, listen } from './node-app.ts';

describe('node HTTP skeleton', () => {
  it('answers GET / with what the node is, its version and where its health and metrics are', async () => {
    const app = createNodeApp({ role: 'relay', registry: new Registry() });
    finishNodeApp(app, silentLogger);
    const server = await listen(app, '127.0.0.1', 0);
    try {
      const res = await fetch(`${server.url}/`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { castnet: string; role: string; about: string; links: Record<string, string> };
      assert.equal(body.castnet, CASTNET_VERSION);
      assert.equal(body.role, 'relay');
      assert.match(body.about, /relay/);
      assert.deepEqual(body.links, { health: '/healthz', metrics: '/metrics' });
    } finally {
      await server.close();
    }
  });

  it('refuses to start on a port in use with a message that names the address, not a stack', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      await assert.rejects(listen(createNodeApp({ role: 'relay', registry: new Registry() }), '127.0.0.1', port), new RegExp(`127\\.0\\.0\\.1:${port} is already in use`));
    } finally {
      blocker.close();
    }
  });

  it("answers the orchestrator's URL challenge with its key's signature, only with a well-formed nonce", async () => {
    const identity = identityFromPrivateKey(randomBytes(32));
    const app = createNodeApp({ role: 'transcoder', registry: new Registry(), identity });
    finishNodeApp(app, silentLogger);
    const server = await listen(app, '127.0.0.1', 0);
    try {
      const nonce = randomBytes(32).toString('hex');
      const answer = (await (await fetch(`${server.url}${URL_CHALLENGE_PATH}?nonce=${nonce}`)).json()) as ChallengeAnswer;
      assert.ok(provesAddress(answer, nonce, identity.address));
      assert.equal((await fetch(`${server.url}${URL_CHALLENGE_PATH}?nonce=short`)).status, 400);
    } finally {
      await server.close();
    }
  });
});
