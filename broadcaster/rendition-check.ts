// The broadcaster's cheap check of what a transcoder returns, before any of it reaches a relay: whole
// MPEG-TS packets, an H.264 stream whose SPS says the rendition's resolution, and about as long as the
// source segment. Parsing only (no decode), a millisecond or so per rendition. Hot path: per rendition.

import { assertMpegTs } from '../media/mpegts.ts';
import { probeTs, type MediaInfo } from '../media/ts-probe.ts';
import { CastnetError, type ErrorContext } from '../protocol/errors.ts';
import type { RenditionSpec } from '../protocol/rendition.ts';

/** A rendition shorter than this share of its source segment is refused as truncated. */
const MIN_DURATION_SHARE = 0.8;

export function checkRendition(bytes: Buffer, spec: RenditionSpec, source: MediaInfo, context: ErrorContext): MediaInfo {
  assertMpegTs(bytes, context);
  const info = probeTs(bytes);
  if (info.width !== spec.width || info.height !== spec.height) {
    throw new CastnetError('INVALID_SEGMENT', `rendition is ${info.width}x${info.height}, expected ${spec.width}x${spec.height}`, context);
  }
  if (source.duration > 0 && info.duration < source.duration * MIN_DURATION_SHARE) {
    throw new CastnetError('INVALID_SEGMENT', `rendition lasts ${info.duration.toFixed(2)} s of the source's ${source.duration.toFixed(2)} s`, context);
  }
  return info;
}
