// Bodies from other nodes, read up to a limit: a peer that never stops sending is cut off.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { readLimited } from './read-limited.ts';

describe('readLimited', () => {
  let server: Server;
  let base = '';
  let endlessClosed: Promise<void> = Promise.resolve();

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/endless') {
        // Chunked, no Content-Length, never ends on its own: writes until the client goes away.
        endlessClosed = new Promise((resolve) => res.once('close', resolve));
        const chunk = Buffer.alloc(16 * 1024, 0x47);
        let sent = 0;
        const pump = () => {
          while (!res.destroyed && sent < 1_000_000_000 && res.write(chunk)) sent += chunk.length;
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
      } else if (req.url === '/declared') {
        res.writeHead(200, { 'content-length': 10_000_000 });
        res.write('x');
      } else {
        res.end('hello');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('reads a body within the limit whole', async () => {
    assert.equal((await readLimited(await fetch(`${base}/small`), 5)).toString(), 'hello');
  });

  it('cuts off an endless body at the limit and closes the connection', async () => {
    await assert.rejects(readLimited(await fetch(`${base}/endless`), 1024 * 1024, { parent: base }), { code: 'PAYLOAD_TOO_LARGE', message: /exceeds the limit of 1048576 bytes/ });
    await endlessClosed;
  });

  it('refuses a declared Content-Length over the limit before reading', async () => {
    await assert.rejects(readLimited(await fetch(`${base}/declared`), 1024), { code: 'PAYLOAD_TOO_LARGE', message: /of 10000000 bytes/ });
  });
});
