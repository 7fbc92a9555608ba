// The broadcaster's cheap check of what a transcoder returns, before any of it reaches a relay: whole
// MPEG-TS packets, an H.264 stream whose SPS says the rendition's resolution, about as long as the source
// segment, and starting at its timestamp (so a rendition of another segment is refused on every segment).
// Parsing only (no decode), a millisecond or so per rendition. Hot path: per rendition.

import { Fmp4Splitter, fragmentTiming, initVideoSize, parseInit } from '../media/fmp4.ts';
import { assertMpegTs } from '../media/mpegts.ts';
import { probeTs, type MediaInfo } from '../media/ts-probe.ts';
import { CastnetError, type ErrorContext } from '../protocol/errors.ts';
import type { RenditionSpec } from '../protocol/rendition.ts';

/** A rendition shorter than this share of its source segment is refused as truncated. */
const MIN_DURATION_SHARE = 0.8;
/** Transcoders keep timestamps (-copyts): a rendition starting further than this from its source is of another time. */
const MAX_START_OFFSET_S = 0.1;
const PTS_WRAP = 2 ** 33;

export function checkRendition(bytes: Buffer, spec: RenditionSpec, source: MediaInfo, context: ErrorContext): MediaInfo {
  assertMpegTs(bytes, context);
  const info = probeTs(bytes);
  if (info.width !== spec.width || info.height !== spec.height) {
    throw new CastnetError('INVALID_SEGMENT', `rendition is ${info.width}x${info.height}, expected ${spec.width}x${spec.height}`, context);
  }
  if (source.duration > 0 && info.duration < source.duration * MIN_DURATION_SHARE) {
    throw new CastnetError('INVALID_SEGMENT', `rendition lasts ${info.duration.toFixed(2)} s of the source's ${source.duration.toFixed(2)} s`, context);
  }
  if (source.firstPts !== null && info.firstPts !== null) {
    const ticks = Math.abs(info.firstPts - source.firstPts);
    const offset = Math.min(ticks, PTS_WRAP - ticks) / 90_000;
    if (offset > MAX_START_OFFSET_S) throw new CastnetError('INVALID_SEGMENT', `rendition starts ${offset.toFixed(2)} s from its source segment (timestamps are kept): output of another time of the stream`, context);
  }
  return info;
}

/** A CMAF rendition (low latency): its init segment and its fragments, as one transcoder's answer gave them. */
export interface CmafRendition {
  init: Buffer;
  /** The segment: its fragments, concatenated. */
  body: Buffer;
  fragments: Buffer[];
}

/** Splits one MP4 (init segment, then fragments) into its init segment and fragments; throws on anything else. */
export function splitCmaf(bytes: Buffer, context: ErrorContext): CmafRendition {
  let init: Buffer | null = null;
  const fragments: Buffer[] = [];
  try {
    const splitter = new Fmp4Splitter({ init: (b) => (init = b), fragment: (b) => fragments.push(b) });
    splitter.push(bytes);
  } catch (err) {
    throw new CastnetError('INVALID_SEGMENT', `rendition is not fragmented MP4: ${(err as Error).message}`, context);
  }
  if (!init) throw new CastnetError('INVALID_SEGMENT', 'rendition has no init segment', context);
  if (fragments.length === 0) throw new CastnetError('INVALID_SEGMENT', 'rendition has no fragments', context);
  return { init, body: Buffer.concat(fragments), fragments };
}

/**
 * The same cheap check for a CMAF rendition: an init segment with a video track of the rendition's size,
 * fragments of it, about as long as the source segment and starting at its time (transcoders place their
 * output on the source's timeline, transcoder/live-transcode.ts). `source`: the source segment's timing.
 */
export function checkCmafRendition(bytes: Buffer, spec: RenditionSpec, source: { start: number; duration: number }, context: ErrorContext): CmafRendition & { start: number; duration: number } {
  const rendition = splitCmaf(bytes, context);
  let size: { width: number; height: number } | null;
  let timing: { start: number; duration: number; independent: boolean };
  try {
    size = initVideoSize(rendition.init);
    timing = fragmentTiming(rendition.body, parseInit(rendition.init));
  } catch (err) {
    throw new CastnetError('INVALID_SEGMENT', `rendition: ${(err as Error).message}`, context);
  }
  if (!size) throw new CastnetError('INVALID_SEGMENT', 'rendition has no video track', context);
  if (size.width !== spec.width || size.height !== spec.height) throw new CastnetError('INVALID_SEGMENT', `rendition is ${size.width}x${size.height}, expected ${spec.width}x${spec.height}`, context);
  if (!timing.independent) throw new CastnetError('INVALID_SEGMENT', 'rendition does not start with a keyframe', context);
  if (source.duration > 0 && timing.duration < source.duration * MIN_DURATION_SHARE) {
    throw new CastnetError('INVALID_SEGMENT', `rendition lasts ${timing.duration.toFixed(2)} s of the source's ${source.duration.toFixed(2)} s`, context);
  }
  const offset = Math.abs(timing.start - source.start);
  if (offset > MAX_START_OFFSET_S) throw new CastnetError('INVALID_SEGMENT', `rendition starts ${offset.toFixed(2)} s from its source segment: output of another time of the stream`, context);
  return { ...rendition, start: timing.start, duration: timing.duration };
}
