// Remuxes one CMAF segment (init + fragments) into MPEG-TS with FFmpeg stream copy, timestamps kept: what a
// low-latency stream's transcoders take, so transcoding, pricing, output checks and failover stay as they are
// for MPEG-TS sources (per segment, stateless). One short FFmpeg run per segment (stream copy, a few tens of
// ms of CPU). Bounded: output size and time.

import { spawn } from 'node:child_process';
import { CastnetError } from '../protocol/errors.ts';
import { ffmpegBinaries } from './ffmpeg-binaries.ts';

const REMUX_TIMEOUT_MS = 10_000;
/** MPEG-TS adds about 10% to the payload; twice the input is a generous bound. */
const OUTPUT_FACTOR = 2;

export function remuxCmafToTs(init: Buffer, fragments: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const proc = spawn(ffmpegBinaries().ffmpeg, ['-hide_banner', '-loglevel', 'error', '-f', 'mp4', '-i', 'pipe:0', '-map', '0', '-c', 'copy', '-copyts', '-f', 'mpegts', 'pipe:1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const limit = (init.length + fragments.length) * OUTPUT_FACTOR + 64 * 1024;
    const out: Buffer[] = [];
    let size = 0;
    let stderr = '';
    const timer = setTimeout(() => proc.kill('SIGKILL'), REMUX_TIMEOUT_MS);
    proc.stdout.on('data', (d: Buffer) => {
      size += d.length;
      if (size > limit) proc.kill('SIGKILL');
      else out.push(d);
    });
    proc.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 2_000) stderr += d.toString();
    });
    proc.stdin.on('error', () => {});
    proc.on('error', (err) => reject(err));
    proc.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0 && size > 0 && size <= limit) resolve(Buffer.concat(out));
      else reject(new CastnetError('INVALID_SEGMENT', `remuxing the CMAF segment to MPEG-TS failed (${code}): ${stderr.trim()}`));
    });
    proc.stdin.end(Buffer.concat([init, fragments]));
  });
}
