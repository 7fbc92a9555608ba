// bench/latency: the publisher's pictures, yuv420p: a textured background with a bar that sweeps across every 4 s
// at 30 fps (so the encoder has motion to code, as a camera gives it), and the frame's number as a code at the top.
// Runs once a frame on the publisher's side: the background is computed once and copied.

import { drawFrameCode, type YuvFrame } from './frame-code.ts';

export interface FramePainter {
  readonly width: number;
  readonly height: number;
  /** Bytes of one frame (Y, then U, then V). */
  readonly frameBytes: number;
  /** Frame `n`, in a buffer that is reused: write it out before painting the next. */
  paint(n: number): Buffer;
}

export function createFramePainter(width: number, height: number): FramePainter {
  if (width % 2 || height % 2) throw new RangeError(`yuv420p needs even dimensions, not ${width}x${height}`);
  const ySize = width * height;
  const cSize = ySize / 4;
  const background = Buffer.alloc(ySize + 2 * cSize);
  // Diagonal gradient with a checker texture in luma, slow colour ramps in chroma.
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const checker = ((col >> 4) + (row >> 4)) & 1 ? 24 : 0;
      background[row * width + col] = 40 + Math.floor((150 * (col + row)) / (width + height)) + checker;
    }
  }
  for (let row = 0; row < height / 2; row++) {
    for (let col = 0; col < width / 2; col++) {
      background[ySize + row * (width / 2) + col] = 90 + Math.floor((80 * col) / (width / 2));
      background[ySize + cSize + row * (width / 2) + col] = 170 - Math.floor((80 * row) / (height / 2));
    }
  }
  const frame = Buffer.from(background);
  const yuv: YuvFrame = { width, height, y: frame.subarray(0, ySize), u: frame.subarray(ySize, ySize + cSize), v: frame.subarray(ySize + cSize) };
  const barWidth = Math.max(2, Math.floor(width / 20));
  let barAt = -1;
  return {
    width,
    height,
    frameBytes: frame.length,
    paint(n) {
      // Only what moved is redrawn: the bar's old columns restored, the new ones painted, then the code.
      const x0 = Math.floor(((n % 120) / 120) * (width - barWidth));
      for (let row = 0; row < height; row++) {
        const start = row * width;
        if (barAt >= 0) background.copy(frame, start + barAt, start + barAt, start + barAt + barWidth);
        frame.fill(220, start + x0, start + x0 + barWidth);
      }
      barAt = x0;
      drawFrameCode(n, yuv);
      return frame;
    },
  };
}
