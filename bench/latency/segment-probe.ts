// bench/latency: reads the burned-in frame number back from a server's output offline, before any browser is
// involved: the newest complete segment of a media playlist (with its EXT-X-MAP init segment for CMAF), its
// first frame decoded by FFmpeg to grey at a fixed size, and the code read as the page would. A case whose
// server damages the code (a rendition scaled or compressed past reading) fails here with the reason, not
// as "no frame read back" in the page.

import { spawn } from 'node:child_process';
import { ffmpegBinaries } from '../../media/ffmpeg-binaries.ts';
import { codeStripRows, readFrameCode, type FrameCodeRead } from './frame-code.ts';

/** The probe's picture size: the code is proportional to the picture, so any size reads; this one is small. */
const PROBE_WIDTH = 320;
const PROBE_HEIGHT = 180;
const FETCH_MS = 10_000;
const DECODE_MS = 15_000;

export interface SegmentProbe {
  uri: string;
  bytes: number;
  read: FrameCodeRead;
}

async function fetchBytes(url: string): Promise<Buffer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(FETCH_MS) });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

function decodeFirstFrame(bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const args = ['-hide_banner', '-loglevel', 'error', '-i', 'pipe:0', '-frames:v', '1', '-vf', `scale=${PROBE_WIDTH}:${PROBE_HEIGHT}`, '-pix_fmt', 'gray', '-f', 'rawvideo', 'pipe:1'];
    const child = spawn(ffmpegBinaries().ffmpeg, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), DECODE_MS);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    // FFmpeg stops reading after one frame: the rest of the segment is not wanted.
    child.stdin.on('error', () => {});
    child.on('exit', (code) => {
      clearTimeout(timer);
      const frame = Buffer.concat(out);
      if (frame.length >= PROBE_WIDTH * PROBE_HEIGHT) resolve(frame);
      else reject(new Error(`ffmpeg decoded no frame (exit ${code}): ${err.trim().slice(-300)}`));
    });
    child.stdin.end(bytes);
  });
}

/** Decodes the first frame of the newest complete segment `playlistUrl` lists and reads its frame number. */
export async function probeNewestSegment(playlistUrl: string): Promise<SegmentProbe> {
  const text = (await fetchBytes(playlistUrl)).toString('utf8');
  const uris = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const uri = uris.at(-1);
  if (!uri) throw new Error(`${playlistUrl} lists no segment`);
  const map = /#EXT-X-MAP:URI="([^"]+)"/g;
  let init: string | undefined;
  for (let m = map.exec(text); m; m = map.exec(text)) init = m[1];
  const segment = await fetchBytes(new URL(uri, playlistUrl).href);
  const bytes = init ? Buffer.concat([await fetchBytes(new URL(init, playlistUrl).href), segment]) : segment;
  const frame = await decodeFirstFrame(bytes);
  const read = readFrameCode({ width: PROBE_WIDTH, height: codeStripRows(PROBE_HEIGHT), channels: 1, data: frame.subarray(0, PROBE_WIDTH * codeStripRows(PROBE_HEIGHT)) });
  return { uri, bytes: bytes.length, read };
}
