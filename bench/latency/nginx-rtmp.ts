// bench/latency: the baseline a user would pick instead of Castnet, one nginx with Debian's RTMP module
// (libnginx-mod-rtmp) making HLS with 2 s fragments, served by the same nginx over HTTP with CORS. Runs as
// the invoking user (master_process off: no privilege drop, so it works as root and as anyone else) from a
// temporary prefix holding its config, logs, pid file and HLS directory, on loopback ports chosen here.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../test/support/wait.ts';

export const NGINX_PATH = process.env.NGINX_PATH ?? '/usr/sbin/nginx';
export const NGINX_RTMP_MODULE = process.env.NGINX_RTMP_MODULE ?? '/usr/lib/nginx/modules/ngx_rtmp_module.so';
const START_MS = 10_000;
const STOP_MS = 5_000;

export interface NginxRtmpOptions {
  /** hls_fragment, in seconds. */
  fragmentSeconds: number;
}

export interface NginxRtmp {
  /** RTMP application URL: publish to `${rtmpUrl}/<name>`. */
  rtmpUrl: string;
  /** The HLS playlist of stream `name`. */
  playlistUrl(name: string): string;
  /** nginx's error log so far (for failure messages). */
  errorLog(): string;
  stop(): Promise<void>;
}

/** A loopback port the system just gave out and took back. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

export function nginxConfig(prefix: string, rtmpPort: number, httpPort: number, o: NginxRtmpOptions): string {
  return `load_module ${NGINX_RTMP_MODULE};
daemon off;
master_process off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 256; }
rtmp {
  server {
    listen 127.0.0.1:${rtmpPort};
    chunk_size 4096;
    application live {
      live on;
      record off;
      hls on;
      hls_path ${prefix}/hls;
      hls_fragment ${o.fragmentSeconds}s;
    }
  }
}
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  server {
    listen 127.0.0.1:${httpPort};
    location /hls/ {
      alias ${prefix}/hls/;
      add_header Cache-Control no-cache;
      add_header Access-Control-Allow-Origin *;
    }
  }
}
`;
}

export async function startNginxRtmp(options: NginxRtmpOptions): Promise<NginxRtmp> {
  for (const [path, what] of [[NGINX_PATH, 'apt-get install nginx (or set NGINX_PATH)'], [NGINX_RTMP_MODULE, 'apt-get install libnginx-mod-rtmp (or set NGINX_RTMP_MODULE)']] as const) {
    if (!existsSync(path)) throw new Error(`${path} is missing: ${what}`);
  }
  const prefix = mkdtempSync(join(tmpdir(), 'castnet-bench-nginx-'));
  mkdirSync(join(prefix, 'hls'));
  mkdirSync(join(prefix, 'tmp'));
  const [rtmpPort, httpPort] = [await freePort(), await freePort()];
  writeFileSync(join(prefix, 'nginx.conf'), nginxConfig(prefix, rtmpPort, httpPort, options));
  const child: ChildProcess = spawn(NGINX_PATH, ['-p', `${prefix}/`, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const errorLog = () => {
    try {
      return stderr + readFileSync(join(prefix, 'error.log'), 'utf8');
    } catch {
      return stderr;
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
    await exited;
    clearTimeout(kill);
    rmSync(prefix, { recursive: true, force: true });
  };
  try {
    await waitFor('nginx to listen for RTMP and HTTP', async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${errorLog().slice(-800)}`);
      return (await accepts(rtmpPort)) && (await accepts(httpPort));
    }, START_MS, 50);
  } catch (err) {
    const log = errorLog();
    await stop();
    throw new Error(`${(err as Error).message}\n${log.slice(-800)}`);
  }
  return {
    rtmpUrl: `rtmp://127.0.0.1:${rtmpPort}/live`,
    playlistUrl: (name) => `http://127.0.0.1:${httpPort}/hls/${name}.m3u8`,
    errorLog,
    stop,
  };
}
