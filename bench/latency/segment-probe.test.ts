import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { ffmpegBinaries } from '../../media/ffmpeg-binaries.ts';
import { createFramePainter } from './frame-painter.ts';
import { probeNewestSegment } from './segment-probe.ts';

/** Frames `first`.. painted at 640x360, encoded as the publisher does (ultrafast), scaled to 240p, as MPEG-TS. */
function encodeSegment(first: number, count: number): Promise<Buffer> {
  const painter = createFramePainter(640, 360);
  const raw = Buffer.concat(Array.from({ length: count }, (_, i) => Buffer.from(painter.paint(first + i))));
  return new Promise((resolve, reject) => {
    const args = ['-hide_banner', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-video_size', '640x360', '-framerate', '30', '-i', 'pipe:0',
      '-vf', 'scale=426:240', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-b:v', '300k', '-g', '30', '-f', 'mpegts', 'pipe:1'];
    const child = spawn(ffmpegBinaries().ffmpeg, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`ffmpeg exited ${code}: ${err}`))));
    child.stdin.end(raw);
  });
}

describe('segment probe', () => {
  let server: Server;
  let base: string;
  const files = new Map<string, Buffer | string>();

  beforeAll(async () => {
    files.set('/a/0.ts', await encodeSegment(0, 30));
    files.set('/a/1.ts', await encodeSegment(4_321, 30));
    files.set('/a/index.m3u8', '#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n0.ts\n#EXTINF:1.0,\n1.ts\n');
    files.set('/b/index.m3u8', '#EXTM3U\n#EXT-X-TARGETDURATION:1\n');
    server = createServer((req, res) => {
      const body = files.get(req.url ?? '');
      if (body === undefined) res.writeHead(404).end();
      else res.writeHead(200).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("reads the frame number of the newest segment's first frame, after x264 and scaling", async () => {
    const probe = await probeNewestSegment(`${base}/a/index.m3u8`);
    assert.equal(probe.uri, '1.ts');
    assert.deepEqual(probe.read, { ok: true, n: 4_321 });
  });

  it('says why when a playlist lists no segment or a segment is missing', async () => {
    await assert.rejects(probeNewestSegment(`${base}/b/index.m3u8`), /lists no segment/);
    files.set('/c/index.m3u8', '#EXTM3U\n#EXTINF:1.0,\ngone.ts\n');
    await assert.rejects(probeNewestSegment(`${base}/c/index.m3u8`), /gone\.ts: 404/);
  });
});
