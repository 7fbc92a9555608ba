// Test support: an HTTP parent that stands between an edge relay and its real parent, forwarding every
// request and counting them by path; `tamper` may rewrite a body (a malicious parent). Real HTTP on loopback.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ParentProxy {
  url: string;
  /** GETs forwarded, by path (query left out). */
  requests: Map<string, number>;
  close(): Promise<void>;
}

export async function startParentProxy(target: string, tamper?: (path: string, body: Buffer) => Buffer): Promise<ParentProxy> {
  const requests = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    const path = url.split('?')[0]!;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    void (async () => {
      try {
        const upstream = await fetch(`${target}${url}`, { signal: AbortSignal.timeout(15_000) });
        let body: Buffer = Buffer.from(await upstream.arrayBuffer());
        if (tamper && upstream.ok) body = tamper(path, body);
        const headers: Record<string, string> = {};
        upstream.headers.forEach((v, k) => {
          if (k !== 'content-length' && k !== 'content-encoding' && k !== 'transfer-encoding' && k !== 'connection') headers[k] = v;
        });
        res.writeHead(upstream.status, { ...headers, 'content-length': body.length });
        res.end(body);
      } catch {
        res.writeHead(502).end();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
