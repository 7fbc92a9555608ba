// bench/relay: the relay serving a cached ~1.5 MB segment and a small playlist, against nginx (one worker,
// sendfile on) serving the same bytes from files, both loaded by wrk at 32 connections on loopback in the
// same run. Prints relay/nginx throughput for segments and requests/s for playlists.
// Needs Debian's nginx and wrk (apt-get install nginx wrk). Usage: npm run bench:relay [-- --seconds 10]

import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseFlags } from '../../cli/options.ts';
import { createRelay } from '../../relay/relay.ts';
import { silentLogger } from '../../observability/logger.ts';
import { segmentMetadataHeaders } from '../../protocol/segment-metadata.ts';

const run = promisify(execFile);
const { flags } = parseFlags(process.argv.slice(2));
const seconds = Number(flags.get('seconds') ?? 10);
const rounds = Number(flags.get('rounds') ?? 2);
for (const bin of ['/usr/sbin/nginx', '/usr/bin/wrk']) if (!existsSync(bin)) throw new Error(`${bin} is missing: apt-get install nginx wrk`);

const work = join(import.meta.dirname, '..', '.work', 'relay');
rmSync(work, { recursive: true, force: true });
mkdirSync(join(work, 'www', 'hls', 'bench', 'source'), { recursive: true });

// A segment of whole TS packets, ~1.5 MB, and the relay's own playlist for it, written for nginx too.
const segment = Buffer.alloc(188 * 8000);
for (let i = 0; i < segment.length; i += 188) segment[i] = 0x47;
const relay = await createRelay({ httpPort: 0, dataDir: null, orchestrator: null, discoverParents: false }, { logger: silentLogger });
await relay.start();
await fetch(`${relay.url}/hls/bench`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ targetDuration: 2, variants: [{ name: 'source', width: 1280, height: 720, bandwidth: 6e6, codecs: 'avc1.64001f,mp4a.40.2' }] }) });
for (let seq = 0; seq < 6; seq++) {
  await fetch(`${relay.url}/hls/bench/source/${seq}.ts`, { method: 'PUT', headers: segmentMetadataHeaders({ duration: 2, programDateTime: new Date().toISOString(), discontinuity: false }), body: new Uint8Array(segment) });
}
const playlist = Buffer.from(await (await fetch(`${relay.url}/hls/bench/source/index.m3u8`)).arrayBuffer());
writeFileSync(join(work, 'www', 'hls', 'bench', 'source', '5.ts'), segment);
writeFileSync(join(work, 'www', 'hls', 'bench', 'source', 'index.m3u8'), playlist);

const nginxPort = 20000 + Math.floor(Math.random() * 20000);
writeFileSync(
  join(work, 'nginx.conf'),
  `user root;
worker_processes 1;
daemon off;
pid ${work}/nginx.pid;
error_log ${work}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  types { video/mp2t ts; application/vnd.apple.mpegurl m3u8; }
  server {
    listen 127.0.0.1:${nginxPort};
    root ${work}/www;
    add_header Cache-Control "public, max-age=1";
  }
}
`,
);
const nginx = spawn('/usr/sbin/nginx', ['-p', work, '-c', join(work, 'nginx.conf')], { stdio: 'ignore' });
// The ceiling for any Node server here: plain node:http answering every request with the same Buffer.
const bare = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl', 'content-length': playlist.length });
  res.end(playlist);
});
await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
const barePort = (bare.address() as { port: number }).port;
await new Promise((r) => setTimeout(r, 500));

async function wrk(url: string): Promise<{ rps: number; bytesPerSec: number }> {
  const { stdout } = await run('/usr/bin/wrk', ['-t', '1', '-c', '32', '-d', `${seconds}s`, '--latency', url], { maxBuffer: 1 << 20 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const [, value, unit] = /Transfer\/sec:\s+([\d.]+)(\w+)/.exec(stdout) ?? [];
  const scale: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };
  return { rps, bytesPerSec: Number(value) * (scale[unit!] ?? 1) };
}

const results: Record<string, number[]> = { relaySeg: [], nginxSeg: [], relayPl: [], nginxPl: [], barePl: [] };
try {
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ['relay', 'nginx'] : ['nginx', 'relay'];
    for (const who of order) {
      const base = who === 'relay' ? relay.url : `http://127.0.0.1:${nginxPort}`;
      const seg = await wrk(`${base}/hls/bench/source/5.ts`);
      const pl = await wrk(`${base}/hls/bench/source/index.m3u8`);
      results[`${who}Seg`]!.push(seg.bytesPerSec);
      results[`${who}Pl`]!.push(pl.rps);
      console.log(`round ${round + 1} ${who.padEnd(5)} segment ${(seg.bytesPerSec / 1024 ** 3).toFixed(2)} GiB/s (${seg.rps.toFixed(0)} req/s), playlist ${pl.rps.toFixed(0)} req/s`);
    }
    const barePl = await wrk(`http://127.0.0.1:${barePort}/`);
    results.barePl!.push(barePl.rps);
    console.log(`round ${round + 1} bare node:http playlist ${barePl.rps.toFixed(0)} req/s`);
  }
} finally {
  nginx.kill('SIGTERM');
  bare.close();
  await relay.stop();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`\nwrk -t1 -c32 -d${seconds}s, ${rounds} rounds, ${segment.length} byte segment, ${playlist.length} byte playlist`);
console.log(`segments  relay/nginx throughput: ${(median(results.relaySeg!) / median(results.nginxSeg!)).toFixed(3)} (target ≥ 1.0)`);
console.log(`playlists relay/nginx requests/s: ${(median(results.relayPl!) / median(results.nginxPl!)).toFixed(3)} (target ≥ 0.7)`);
console.log(`  ceiling here: bare node:http/nginx ${(median(results.barePl!) / median(results.nginxPl!)).toFixed(3)}; relay/bare node:http ${(median(results.relayPl!) / median(results.barePl!)).toFixed(3)}`);
