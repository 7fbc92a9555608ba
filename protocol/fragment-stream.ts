// Wire contract of the answer to `POST /transcode/live` (progressive transcoding): the renditions come back
// as they leave the encoder, interleaved in one streamed body of frames. A frame is
//   [1 byte rendition index (its place in the request's ladder)] [1 byte kind] [4 bytes length, big-endian] [payload]
// with kinds `init` (a rendition's ftyp + moov, once, before its fragments), `fragment` (one moof + mdat),
// `end` (empty: every rendition is complete; the last frame of a good answer) and `error` (a UTF-8 JSON
// `{ code, message }`: the transcode failed after the answer began; the last frame). A body that ends with
// neither is cut off. The decoder is incremental and bounded: it reads bytes from another node, so lengths,
// indexes and kinds are checked before any payload is buffered. Hot path: one frame per fragment.

import { ByteQueue } from './byte-queue.ts';
import { CastnetError } from './errors.ts';

export const FRAGMENT_STREAM_TYPE = 'application/vnd.castnet.fragments';
export const FRAME_HEADER_BYTES = 6;
/** A frame's payload: one fragment of one rendition at most (media/fmp4.ts MAX_BOX_BYTES, the splitter's own bound). */
export const MAX_FRAME_BYTES = 32 * 1024 * 1024;
/** Renditions in one answer (the ladder schema allows no more). */
export const MAX_FRAME_RENDITIONS = 16;

export type FrameKind = 'init' | 'fragment' | 'end' | 'error';
const KINDS: readonly FrameKind[] = ['init', 'fragment', 'end', 'error'];

export interface Frame {
  rendition: number;
  kind: FrameKind;
  payload: Buffer;
}

/** The frame's header; write it, then the payload (media bytes are not copied). */
export function frameHeader(rendition: number, kind: FrameKind, length: number): Buffer {
  if (!Number.isInteger(rendition) || rendition < 0 || rendition >= MAX_FRAME_RENDITIONS) throw new RangeError(`rendition index ${rendition}`);
  if (!Number.isInteger(length) || length < 0 || length > MAX_FRAME_BYTES) throw new RangeError(`frame of ${length} bytes`);
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head[0] = rendition;
  head[1] = KINDS.indexOf(kind);
  head.writeUInt32BE(length, 2);
  return head;
}

export function encodeFrame(rendition: number, kind: FrameKind, payload: Buffer = Buffer.alloc(0)): Buffer[] {
  return [frameHeader(rendition, kind, payload.length), payload];
}

export function errorFrame(code: string, message: string): Buffer[] {
  return encodeFrame(0, 'error', Buffer.from(JSON.stringify({ code, message })));
}

function malformed(message: string, context: Record<string, unknown>): never {
  throw new CastnetError('INVALID_SEGMENT', `progressive answer: ${message}`, context);
}

/**
 * Turns the answer's bytes into frames. `renditions`: how many the request asked for (a frame for another
 * index is malformed). Throws CastnetError INVALID_SEGMENT on anything malformed, and on bytes after the last frame.
 */
export class FrameDecoder {
  private readonly renditions: number;
  private readonly context: Record<string, unknown>;
  private readonly pending = new ByteQueue();
  private header: { rendition: number; kind: FrameKind; length: number } | null = null;
  /** An `end` or `error` frame was read: nothing may follow. */
  finished = false;

  constructor(renditions: number, context: Record<string, unknown> = {}) {
    if (renditions < 1 || renditions > MAX_FRAME_RENDITIONS) throw new RangeError(`${renditions} renditions`);
    this.renditions = renditions;
    this.context = context;
  }

  /** The whole frames completed by `chunk`, in order. */
  push(chunk: Buffer): Frame[] {
    if (chunk.length === 0) return [];
    if (this.finished) malformed('bytes after the last frame', this.context);
    this.pending.push(chunk);
    const frames: Frame[] = [];
    for (;;) {
      if (!this.header) {
        if (this.pending.length < FRAME_HEADER_BYTES) return frames;
        const head = this.pending.take(FRAME_HEADER_BYTES);
        const rendition = head[0]!;
        const kind = KINDS[head[1]!];
        const length = head.readUInt32BE(2);
        if (!kind) malformed(`unknown frame kind ${head[1]}`, this.context);
        if (rendition >= this.renditions) malformed(`rendition index ${rendition} of ${this.renditions}`, this.context);
        if (length > MAX_FRAME_BYTES) malformed(`frame of ${length} bytes (at most ${MAX_FRAME_BYTES})`, this.context);
        if (kind === 'end' && length !== 0) malformed('an end frame with a payload', this.context);
        if (kind === 'error' && length > 4096) malformed(`an error frame of ${length} bytes`, this.context);
        this.header = { rendition, kind, length };
      }
      if (this.pending.length < this.header.length) return frames;
      const payload = this.header.length ? this.pending.take(this.header.length) : Buffer.alloc(0);
      frames.push({ rendition: this.header.rendition, kind: this.header.kind, payload });
      const last = this.header.kind === 'end' || this.header.kind === 'error';
      this.header = null;
      if (last) {
        this.finished = true;
        if (this.pending.length > 0) malformed('bytes after the last frame', this.context);
        return frames;
      }
    }
  }
}

/** The transcoder's failure carried by an `error` frame, as a CastnetError (its code kept when it is one of ours). */
export function frameError(payload: Buffer, context: Record<string, unknown> = {}): CastnetError {
  let parsed: { code?: unknown; message?: unknown } = {};
  try {
    parsed = JSON.parse(payload.toString('utf8')) as typeof parsed;
  } catch {
    // A malformed error frame is still an error.
  }
  const message = typeof parsed.message === 'string' ? parsed.message.slice(0, 500) : 'the transcoder failed';
  const code = parsed.code === 'INVALID_SEGMENT' || parsed.code === 'TRANSCODE_FAILED' || parsed.code === 'UNAVAILABLE' ? parsed.code : 'TRANSCODE_FAILED';
  return new CastnetError(code, `the transcoder failed mid-answer: ${message}`, context);
}
