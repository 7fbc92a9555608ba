import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { ffmpegBinaries } from '../../media/ffmpeg-binaries.ts';
import { codeBoxes, codeStripRows, crc8, MAX_FRAME_NUMBER, readFrameCode, type StripImage } from './frame-code.ts';
import { createFramePainter } from './frame-painter.ts';

/** The code strip of a grey (or luma) picture `width` wide. */
const stripOf = (luma: Uint8Array, width: number, height: number): StripImage => ({ width, height: codeStripRows(height), channels: 1, data: luma.subarray(0, width * codeStripRows(height)) });

function run(bin: string, args: string[], input?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${bin} exited ${code}: ${err.slice(-500)}`))));
    child.stdin.end(input);
  });
}

describe('frame code', () => {
  const numbers = [0, 1, 2, 255, 256, 65_535, 1_000_003, MAX_FRAME_NUMBER - 1, MAX_FRAME_NUMBER];

  it('reads back every number it draws, at the size drawn and at odd sizes', () => {
    for (const [width, height] of [[1280, 720], [640, 360], [426, 240], [322, 182]] as const) {
      const painter = createFramePainter(width + (width % 2), height);
      for (const n of numbers) {
        const frame = painter.paint(n);
        assert.deepEqual(readFrameCode(stripOf(frame, painter.width, height)), { ok: true, n }, `${n} at ${width}x${height}`);
      }
    }
  });

  it('reads RGBA pixels as a canvas gives them', () => {
    const painter = createFramePainter(640, 360);
    const luma = painter.paint(123_456);
    const rows = codeStripRows(360);
    const rgba = new Uint8ClampedArray(640 * rows * 4);
    for (let i = 0; i < 640 * rows; i++) rgba.set([luma[i]!, luma[i]!, luma[i]!, 255], i * 4);
    assert.deepEqual(readFrameCode({ width: 640, height: rows, channels: 4, data: rgba }), { ok: true, n: 123_456 });
  });

  it('refuses a picture with no code, a flipped bit and an ambiguous box instead of misreading them', () => {
    const grey = new Uint8Array(640 * 80).fill(128);
    assert.match((readFrameCode({ width: 640, height: 80, channels: 1, data: grey }) as { reason: string }).reason, /guards .* not distinct/);
    const painter = createFramePainter(640, 360);
    const frame = Buffer.from(painter.paint(4242));
    // Box 5 is in the first row: invert it, as a decoding error would.
    const boxWidth = 640 / 17;
    const rowHeight = codeStripRows(360) / 2;
    const flip = (value: number) => {
      for (let row = 0; row < rowHeight; row++) frame.fill(value, row * 640 + Math.ceil(5 * boxWidth), row * 640 + Math.floor(6 * boxWidth));
    };
    flip(codeBoxes(4242)[5] ? 16 : 235);
    assert.match((readFrameCode(stripOf(frame, 640, 360)) as { reason: string }).reason, /checksum mismatch/);
    flip(125);
    assert.match((readFrameCode(stripOf(frame, 640, 360)) as { reason: string }).reason, /box 5 ambiguous/);
  });

  it('detects every single-bit error in the number or its CRC', () => {
    for (const n of [0, 77, 9_999_999]) {
      const crc = crc8(n);
      for (let bit = 0; bit < 24; bit++) assert.notEqual(crc8(n ^ (1 << bit)), crc);
    }
    assert.throws(() => codeBoxes(MAX_FRAME_NUMBER + 1), RangeError);
    assert.throws(() => codeBoxes(-1), RangeError);
  });

  it('survives a real FFmpeg round trip: x264 at a low bitrate, scaled to 360p and 240p, decoded again', async () => {
    const { ffmpeg } = ffmpegBinaries();
    const dir = mkdtempSync(join(tmpdir(), 'castnet-frame-code-'));
    try {
      const painter = createFramePainter(1280, 720);
      // Numbers that change many boxes from one frame to the next, the hardest case for the encoder.
      const sent = Array.from({ length: 45 }, (_, i) => (i < 15 ? i : (i * 7_919_777) % MAX_FRAME_NUMBER));
      const raw = Buffer.concat(sent.map((n) => Buffer.from(painter.paint(n))));
      for (const [width, height, bitrate] of [[640, 360, '300k'], [426, 240, '150k']] as const) {
        const file = join(dir, `${height}.mp4`);
        await run(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-video_size', '1280x720', '-framerate', '30', '-i', 'pipe:0',
          '-vf', `scale=${width}:${height}`, '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', bitrate, '-maxrate', bitrate, '-bufsize', bitrate, '-g', '30', '-y', file], raw);
        const decoded = await run(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1']);
        const frameBytes = width * height;
        assert.equal(decoded.length, frameBytes * sent.length, `${height}p: every frame decoded`);
        const read = sent.map((_, i) => readFrameCode(stripOf(decoded.subarray(i * frameBytes, (i + 1) * frameBytes), width, height)));
        assert.deepEqual(read, sent.map((n) => ({ ok: true, n })), `${height}p`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
