// Thumbnails of the streams pushed to this relay (`/hls/<playbackId>/thumbnail.jpg` and `.webp`): about every
// THUMBNAIL_INTERVAL_MS, the first keyframe of the newest segment of a stream's largest rendition is decoded
// by FFmpeg, once, into a JPEG and a WebP held in memory (the WebP from the same frame, in the same run; an
// FFmpeg without libwebp makes JPEGs only, found out once and logged). Never on a request's path: made when a segment arrives, one FFmpeg
// at a time for the whole relay (a stream whose turn it is waits for the next segment), killed after
// THUMBNAIL_TIMEOUT_MS, its output bounded; a failure is logged and the previous thumbnail stays.

import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Logger } from '../observability/logger.ts';
import { CastnetError } from '../protocol/errors.ts';
import type { Variant } from '../protocol/stream-record.ts';

export const THUMBNAIL_INTERVAL_MS = 10_000;
export const THUMBNAIL_TIMEOUT_MS = 5_000;
export const THUMBNAIL_MAX_BYTES = 1024 * 1024;
/** Thumbnails are scaled down to this width at most: a poster, not a frame grab. */
const THUMBNAIL_WIDTH = 640;

export interface Thumbnail {
  /** The JPEG. */
  bytes: Buffer;
  etag: string;
  takenAt: number;
  /** The same frame as WebP; null when this FFmpeg has no WebP encoder. */
  webp: { bytes: Buffer; etag: string } | null;
}

export type ThumbnailFormat = 'jpg' | 'webp';

export interface ThumbnailerOptions {
  ffmpegPath: string;
  logger: Logger;
  intervalMs?: number;
  timeoutMs?: number;
  now?: () => number;
}

export interface ThumbnailerEvents {
  thumbnail: [playbackId: string, jpeg: Buffer];
  failed: [playbackId: string, reason: string];
}

/** A JPEG starts with SOI (FF D8) and ends with EOI (FF D9). */
export function isJpeg(bytes: Buffer): boolean {
  return bytes.length > 4 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[bytes.length - 2] === 0xff && bytes[bytes.length - 1] === 0xd9;
}

/** A WebP is a RIFF container of form type WEBP whose size field covers the rest of it. */
export function isWebp(bytes: Buffer): boolean {
  return bytes.length > 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP' && bytes.readUInt32LE(4) + 8 === bytes.length;
}

export class Thumbnailer extends EventEmitter<ThumbnailerEvents> {
  private readonly o: Required<Omit<ThumbnailerOptions, 'now'>>;
  private readonly now: () => number;
  private readonly latest = new Map<string, Thumbnail>();
  /** When each stream's last attempt started, successful or not. */
  private readonly attempted = new Map<string, number>();
  private running: ChildProcess | null = null;
  private closed = false;
  /** Whether FFmpeg is asked for a WebP too: until a run without one shows it has no encoder for it. */
  private webp = true;

  constructor(options: ThumbnailerOptions) {
    super();
    this.o = { intervalMs: THUMBNAIL_INTERVAL_MS, timeoutMs: THUMBNAIL_TIMEOUT_MS, ...options };
    this.now = options.now ?? Date.now;
  }

  /** A segment of `rendition` arrived: a thumbnail is made from it when it is the largest rendition and the stream's turn. Per segment: cheap checks only. */
  offer(playbackId: string, rendition: string, bytes: Buffer, variants: ReadonlyArray<Variant>): void {
    if (this.closed || this.running) return;
    const largest = variants.reduce<Variant | null>((best, v) => (!best || v.height > best.height ? v : best), null);
    if (largest && largest.name !== rendition) return;
    const now = this.now();
    if (now - (this.attempted.get(playbackId) ?? -Infinity) < this.o.intervalMs) return;
    this.attempted.set(playbackId, now);
    void this.makeBoth(playbackId, bytes).then(
      ({ jpeg, webp }) => {
        if (this.closed) return;
        this.latest.set(playbackId, { bytes: jpeg, etag: `"${playbackId}.${now}.${jpeg.length}"`, takenAt: now, webp: webp && { bytes: webp, etag: `"${playbackId}.${now}.${webp.length}.webp"` } });
        this.emit('thumbnail', playbackId, jpeg);
      },
      (err: unknown) => {
        this.o.logger.warn({ playbackId, err: (err as Error).message }, 'thumbnail not made: the previous one stays');
        this.emit('failed', playbackId, (err as Error).message);
      },
    );
  }

  /** JPEG and WebP; once a run with a WebP fails where one without succeeds, JPEG only from then on. */
  private async makeBoth(playbackId: string, segment: Buffer): Promise<{ jpeg: Buffer; webp: Buffer | null }> {
    if (!this.webp) return { jpeg: await this.make(playbackId, segment, false).then((r) => r.jpeg), webp: null };
    try {
      return await this.make(playbackId, segment, true);
    } catch (err) {
      const jpeg = (await this.make(playbackId, segment, false)).jpeg;
      if (this.closed) return { jpeg, webp: null };
      this.webp = false;
      this.o.logger.warn({ err: (err as Error).message }, 'thumbnails are JPEG only: this FFmpeg made no WebP (no libwebp?)');
      return { jpeg, webp: null };
    }
  }

  private make(playbackId: string, segment: Buffer, webp: boolean): Promise<{ jpeg: Buffer; webp: Buffer | null }> {
    return new Promise((resolve, reject) => {
      const scale = ['-an', '-frames:v', '1', '-vf', `scale='min(${THUMBNAIL_WIDTH},iw)':-2`];
      const args = ['-hide_banner', '-loglevel', 'error', '-skip_frame', 'nokey', '-f', 'mpegts', '-i', 'pipe:0', ...scale, '-q:v', '5', '-f', 'image2', '-c:v', 'mjpeg', 'pipe:1'];
      // The same decoded frame again, as WebP, on a third pipe.
      if (webp) args.push(...scale, '-c:v', 'libwebp', '-quality', '75', '-f', 'webp', 'pipe:3');
      const child = spawn(this.o.ffmpegPath, args, { stdio: ['pipe', 'pipe', 'pipe', ...(webp ? ['pipe' as const] : [])] });
      this.running = child;
      const chunks: Buffer[] = [];
      const webpChunks: Buffer[] = [];
      let size = 0;
      let stderr = '';
      let failure: string | null = null;
      const timer = setTimeout(() => {
        failure = `FFmpeg took longer than ${this.o.timeoutMs} ms`;
        child.kill('SIGKILL');
      }, this.o.timeoutMs);
      timer.unref();
      const collect = (into: Buffer[]) => (d: Buffer) => {
        size += d.length;
        if (size > THUMBNAIL_MAX_BYTES) {
          failure = `FFmpeg wrote more than ${THUMBNAIL_MAX_BYTES} bytes`;
          child.kill('SIGKILL');
        } else into.push(d);
      };
      child.stdout!.on('data', collect(chunks));
      if (webp) (child.stdio[3] as NodeJS.ReadableStream).on('data', collect(webpChunks));
      child.stderr!.on('data', (d: Buffer) => {
        if (stderr.length < 2_000) stderr += d.toString();
      });
      // FFmpeg stops reading once it has its frame: the rest of the segment meets a closed pipe.
      child.stdin!.on('error', () => {});
      child.stdin!.end(segment);
      child.on('error', (err) => {
        failure ??= err.message;
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (this.running === child) this.running = null;
        const jpeg = Buffer.concat(chunks);
        const image = Buffer.concat(webpChunks);
        if (failure) return reject(new CastnetError('INTERNAL', failure, { playbackId }));
        if (code !== 0 || !isJpeg(jpeg)) return reject(new CastnetError('INTERNAL', `FFmpeg exited ${code} without a JPEG: ${stderr.trim().slice(0, 300)}`, { playbackId }));
        if (webp && !isWebp(image)) return reject(new CastnetError('INTERNAL', `FFmpeg made no WebP: ${stderr.trim().slice(0, 300)}`, { playbackId }));
        resolve({ jpeg, webp: webp ? image : null });
      });
    });
  }

  /** The stream's newest thumbnail. */
  get(playbackId: string): Thumbnail {
    const t = this.latest.get(playbackId);
    if (!t) throw new CastnetError('NOT_FOUND', 'no thumbnail of this stream yet (one is made from a keyframe every ~10 s while it is pushed here)', { playbackId, reason: 'no_thumbnail' });
    return t;
  }

  /** The stream expired: its thumbnail goes with it. */
  forget(playbackId: string): void {
    this.latest.delete(playbackId);
    this.attempted.delete(playbackId);
  }

  close(): void {
    this.closed = true;
    this.running?.kill('SIGKILL');
    this.running = null;
  }
}
