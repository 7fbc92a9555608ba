import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, it } from 'vitest';
import { Registry } from 'prom-client';
import { silentLogger } from '../observability/logger.ts';
import { waitFor, within } from '../test/support/wait.ts';
import { HttpGuard, type HttpLimits } from './http-limits.ts';
import { createNodeApp, finishNodeApp, listen, type ListeningServer } from './node-app.ts';

// Generous: waits end as soon as the condition holds, and a loaded 2-core machine can stall a worker for seconds.
const WAIT_MS = 15_000;

/** A raw client: what it was answered, and when the server closed it. */
class RawClient {
  readonly socket: Socket;
  answer = '';
  readonly closed: Promise<void>;
  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d) => (this.answer += d.toString('latin1')));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }
  static open(port: number, localAddress = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, localAddress });
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }
  get status(): number {
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(this.answer)?.[1] ?? 0);
  }
}

const servers: ListeningServer[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.destroy();
  for (const s of servers.splice(0)) await s.close();
});

async function start(limits: Partial<HttpLimits>, maxBodyBytes = 1_000) {
  const registry = new Registry();
  const guard = new HttpGuard({ role: 'relay', registry, limits });
  const app = createNodeApp({ role: 'relay', registry, guard });
  let bodies = 0;
  app.put('/upload', ...guard.rawBody('an upload', maxBodyBytes), (req, res) => {
    bodies++;
    res.json({ bytes: (req.body as Buffer).length });
  });
  finishNodeApp(app, silentLogger);
  const server = await listen(app, '127.0.0.1', 0);
  servers.push(server);
  const refused = async (reason: string) => {
    const metric = await registry.getSingleMetric('castnet_relay_http_refused_total')!.get();
    return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
  };
  const open = async (localAddress?: string) => {
    const c = await RawClient.open(server.port, localAddress);
    clients.push(c);
    return c;
  };
  return { server, guard, refused, open, bodies: () => bodies };
}

describe('HTTP limits', () => {
  it('answers connections past the total cap with 503 TOO_MANY_CONNECTIONS and counts them', async () => {
    const { guard, refused, open } = await start({ httpMaxConnections: 2 });
    const a = await open();
    await open();
    await waitFor('two connections', () => guard.connections === 2, WAIT_MS, 5);
    const third = await open();
    await within('the third connection to be closed', third.closed, WAIT_MS);
    assert.equal(third.status, 503);
    assert.match(third.answer, /TOO_MANY_CONNECTIONS/);
    assert.equal(await refused('max_connections'), 1);
    // A freed slot is taken again.
    a.socket.destroy();
    await waitFor('the first connection to be gone', () => guard.connections === 1, WAIT_MS, 5);
    const fourth = await open();
    fourth.socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    await waitFor('an answer on the freed slot', () => fourth.status === 200, WAIT_MS, 5);
  });

  it('caps connections from one address and accepts another address', async () => {
    const { guard, refused, open } = await start({ httpMaxConnectionsPerIp: 1 });
    await open();
    await waitFor('the first connection', () => guard.connections === 1, WAIT_MS, 5);
    const second = await open();
    await within('the second connection from 127.0.0.1 to be closed', second.closed, WAIT_MS);
    assert.equal(second.status, 503);
    assert.equal(await refused('max_connections_per_ip'), 1);
    const other = await open('127.0.0.2');
    other.socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    await waitFor('an answer to 127.0.0.2', () => other.status === 200, WAIT_MS, 5);
  });

  it('closes a connection whose headers do not arrive in time with 408', async () => {
    const { refused, open } = await start({ httpHeadersTimeoutMs: 200, httpRequestTimeoutMs: 10_000 });
    const slow = await open();
    slow.socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n');
    await within('the slow-headers connection to be closed', slow.closed, WAIT_MS);
    assert.equal(slow.status, 408);
    assert.equal(await refused('headers_timeout'), 1);
  });

  it('cuts off an upload that stops sending, long before the request timeout', async () => {
    const { refused, open, bodies } = await start({ httpUploadIdleMs: 200, httpRequestTimeoutMs: 60_000 });
    const stalled = await open();
    stalled.socket.write('PUT /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 900\r\n\r\n0123456789');
    await within('the stalled upload to be closed', stalled.closed, WAIT_MS);
    assert.equal(stalled.status, 408);
    assert.match(stalled.answer, /REQUEST_TIMEOUT/);
    assert.equal(await refused('upload_stalled'), 1);
    assert.equal(bodies(), 0);
  });

  it('closes a request that trickles in for longer than the request timeout', async () => {
    const { refused, open } = await start({ httpUploadIdleMs: 5_000, httpHeadersTimeoutMs: 200, httpRequestTimeoutMs: 400 });
    const trickle = await open();
    trickle.socket.write('PUT /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 900\r\n\r\n');
    const timer = setInterval(() => trickle.socket.write('x'), 50);
    try {
      await within('the trickling request to be closed', trickle.closed, WAIT_MS);
    } finally {
      clearInterval(timer);
    }
    assert.equal(await refused('request_timeout'), 1);
  });

  it('refuses a body whose content-length passes the route limit before reading it, and closes the connection', async () => {
    const { refused, open, bodies } = await start({}, 1_000);
    const big = await open();
    // Only the headers are sent: the answer must come without the body.
    big.socket.write('PUT /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 64000000\r\n\r\n');
    await within('the oversized upload to be closed', big.closed, WAIT_MS);
    assert.equal(big.status, 413);
    assert.match(big.answer, /PAYLOAD_TOO_LARGE/);
    assert.match(big.answer, /connection: close/i);
    assert.equal(await refused('body_too_large'), 1);
    assert.equal(bodies(), 0);
  });

  it('cuts off a chunked body that grows past the route limit while streaming', async () => {
    const { refused, open, bodies } = await start({}, 1_000);
    const chunked = await open();
    chunked.socket.write('PUT /upload HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n');
    for (let i = 0; i < 3; i++) chunked.socket.write(`200\r\n${'y'.repeat(0x200)}\r\n`);
    await waitFor('a 413', () => chunked.status === 413, WAIT_MS, 5);
    assert.equal(await refused('body_too_large'), 1);
    assert.equal(bodies(), 0);
  });

  it('takes a body within the limit', async () => {
    const { server } = await start({}, 1_000);
    const res = await fetch(`${server.url}/upload`, { method: 'PUT', body: Buffer.alloc(1_000) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { bytes: 1_000 });
  });
});
