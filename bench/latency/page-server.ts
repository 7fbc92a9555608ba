// bench/latency: serves the measuring page (page.ts, bundled with hls.js and castnet-player by esbuild) on
// loopback. The stream comes from wherever the page's `src` points: every server under test sends CORS.

import { build } from 'esbuild';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const HTML = `<!doctype html><html><head><meta charset="utf-8"><title>bench/latency</title>
<style>body { margin: 0; background: #000; } video, castnet-player { width: 1280px; height: 720px; }</style>
</head><body><script type="module" src="/page.js"></script></body></html>`;

export interface PageServer {
  /** The page URL playing `src` with `player` ('castnet', 'hls.js', or 'hls.js-ll': low-latency mode). */
  pageUrl(player: 'castnet' | 'hls.js' | 'hls.js-ll', src: string, extra?: Record<string, string>): string;
  close(): Promise<void>;
}

export async function startPageServer(): Promise<PageServer> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./page.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    target: ['chrome110'],
    write: false,
    legalComments: 'none',
  });
  const script = Buffer.from(result.outputFiles[0]!.contents);
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(HTML);
    else if (path === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(script);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    pageUrl: (player, src, extra = {}) => `${base}/?${new URLSearchParams({ player, src, ...extra })}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
