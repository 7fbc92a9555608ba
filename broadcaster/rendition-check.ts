// The broadcaster's cheap check of what a transcoder returns, before any of it reaches a relay: whole
// MPEG-TS packets, an H.264 stream whose SPS says the rendition's resolution, about as long as the source
// segment, and starting at its timestamp (so a rendition of another segment is refused on every segment).
// Parsing only (no decode), a millisecond or so per rendition. Hot path: per rendition.

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
