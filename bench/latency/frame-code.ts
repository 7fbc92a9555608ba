// bench/latency: a frame's number drawn into the picture as boxes, and read back from any copy of it (scaled,
// compressed, decoded in a browser). Two rows of 17 boxes across the top of the picture: a white guard, 24
// data bits (most significant first), a CRC-8 of them, and a black guard. Each box is a 17th of the width and
// a 9th of the height, so at 240p a box is still 25×26 pixels: large enough to survive x264 at a low bitrate.
// The reader samples the centre of each box, thresholds halfway between the two guards, refuses a box too
// close to the threshold, and refuses a number whose CRC does not match, so a misread is reported, not used.
// Pure code: it runs in Node (the publisher, tests) and in the page (bundled by esbuild).

export const CODE_COLUMNS = 17;
export const CODE_ROWS = 2;
/** The part of the picture height, from the top, that the code covers. */
export const CODE_HEIGHT_FRACTION = CODE_ROWS / 9;
export const DATA_BITS = 24;
const CRC_BITS = 8;
const BOXES = 1 + DATA_BITS + CRC_BITS + 1;
/** The largest frame number the code carries (about 155 hours at 30 fps). */
export const MAX_FRAME_NUMBER = 2 ** DATA_BITS - 1;
// Limited-range luma, as yuv420p carries it.
const WHITE_Y = 235;
const BLACK_Y = 16;
/** Guards less distinct than this (0–255) are not a code: no picture, or a picture without one. */
const MIN_CONTRAST = 64;
/** A box within this share of the guard contrast from the threshold is ambiguous. */
const AMBIGUOUS_SHARE = 0.2;

if (CODE_COLUMNS * CODE_ROWS !== BOXES) throw new Error('frame code layout does not add up');

/** CRC-8 (polynomial 0x07, as in ATM HEC / SMBus) over the three bytes of a 24-bit number. */
export function crc8(n: number): number {
  let crc = 0;
  for (const byte of [(n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

/** The box values (true: white) for a frame number, guards included, row by row. */
export function codeBoxes(n: number): boolean[] {
  if (!Number.isInteger(n) || n < 0 || n > MAX_FRAME_NUMBER) throw new RangeError(`frame number ${n} outside 0..${MAX_FRAME_NUMBER}`);
  const crc = crc8(n);
  const boxes = [true];
  for (let i = DATA_BITS - 1; i >= 0; i--) boxes.push(((n >>> i) & 1) === 1);
  for (let i = CRC_BITS - 1; i >= 0; i--) boxes.push(((crc >>> i) & 1) === 1);
  boxes.push(false);
  return boxes;
}

/** Box `i`'s rectangle [x0, y0, x1, y1) in a strip `width` × `stripHeight` (the code's part of the picture). */
function boxRect(i: number, width: number, stripHeight: number): [number, number, number, number] {
  const row = Math.floor(i / CODE_COLUMNS);
  const col = i % CODE_COLUMNS;
  return [Math.floor((col * width) / CODE_COLUMNS), Math.floor((row * stripHeight) / CODE_ROWS), Math.floor(((col + 1) * width) / CODE_COLUMNS), Math.floor(((row + 1) * stripHeight) / CODE_ROWS)];
}

/** Rows of a picture `height` high that the code covers (even, so the chroma rows below it line up). */
export function codeStripRows(height: number): number {
  return Math.ceil((height * CODE_HEIGHT_FRACTION) / 2) * 2;
}

export interface YuvFrame {
  width: number;
  height: number;
  /** Luma plane, `width` bytes a row. */
  y: Uint8Array;
  /** Chroma planes of yuv420p, `width / 2` bytes a row. */
  u: Uint8Array;
  v: Uint8Array;
}

/** Draws frame number `n` into the top of a yuv420p frame (grey boxes: chroma neutral under the code). */
export function drawFrameCode(n: number, frame: YuvFrame): void {
  const { width, height, y, u, v } = frame;
  const strip = codeStripRows(height);
  const boxes = codeBoxes(n);
  // One luma row per row of boxes, copied down the rows it covers.
  const line = new Uint8Array(width);
  for (let row = 0; row < CODE_ROWS; row++) {
    for (let col = 0; col < CODE_COLUMNS; col++) {
      const i = row * CODE_COLUMNS + col;
      const [x0, , x1] = boxRect(i, width, strip);
      line.fill(boxes[i] ? WHITE_Y : BLACK_Y, x0, x1);
    }
    const [, y0, , y1] = boxRect(row * CODE_COLUMNS, width, strip);
    for (let r = y0; r < y1; r++) y.set(line, r * width);
  }
  const half = width / 2;
  u.fill(128, 0, (strip / 2) * half);
  v.fill(128, 0, (strip / 2) * half);
}

/** Pixels of the code strip as read back: grey (1 channel) or RGBA (4 channels, as canvas getImageData gives). */
export interface StripImage {
  width: number;
  height: number;
  channels: 1 | 4;
  data: ArrayLike<number>;
}

export type FrameCodeRead = { ok: true; n: number } | { ok: false; reason: string };

/** Mean brightness of the middle half (both ways) of box `i`. */
function boxLevel(img: StripImage, i: number): number {
  const [x0, y0, x1, y1] = boxRect(i, img.width, img.height);
  const [w, h] = [x1 - x0, y1 - y0];
  const [sx0, sx1, sy0, sy1] = [x0 + Math.floor(w / 4), Math.max(x0 + Math.floor(w / 4) + 1, x1 - Math.floor(w / 4)), y0 + Math.floor(h / 4), Math.max(y0 + Math.floor(h / 4) + 1, y1 - Math.floor(h / 4))];
  let sum = 0;
  let count = 0;
  for (let yy = sy0; yy < sy1; yy++) {
    for (let xx = sx0; xx < sx1; xx++) {
      const p = (yy * img.width + xx) * img.channels;
      // Luma from RGB (BT.601 weights), or the grey value itself.
      sum += img.channels === 1 ? img.data[p]! : 0.299 * img.data[p]! + 0.587 * img.data[p + 1]! + 0.114 * img.data[p + 2]!;
      count++;
    }
  }
  return sum / count;
}

/** Reads the frame number from the code strip of a picture (the top CODE_HEIGHT_FRACTION of it, at any size). */
export function readFrameCode(img: StripImage): FrameCodeRead {
  if (img.width < CODE_COLUMNS * 2 || img.height < CODE_ROWS * 2) return { ok: false, reason: `strip ${img.width}×${img.height} too small` };
  const levels = Array.from({ length: BOXES }, (_, i) => boxLevel(img, i));
  const white = levels[0]!;
  const black = levels[BOXES - 1]!;
  if (white - black < MIN_CONTRAST) return { ok: false, reason: `guards ${white.toFixed(0)}/${black.toFixed(0)} not distinct` };
  const threshold = (white + black) / 2;
  const margin = (white - black) * AMBIGUOUS_SHARE;
  let n = 0;
  let crc = 0;
  for (let i = 1; i < BOXES - 1; i++) {
    const level = levels[i]!;
    if (Math.abs(level - threshold) < margin) return { ok: false, reason: `box ${i} ambiguous (${level.toFixed(0)} against threshold ${threshold.toFixed(0)})` };
    const bit = level > threshold ? 1 : 0;
    if (i <= DATA_BITS) n = n * 2 + bit;
    else crc = crc * 2 + bit;
  }
  if (crc8(n) !== crc) return { ok: false, reason: `checksum mismatch (read ${n})` };
  return { ok: true, n };
}
