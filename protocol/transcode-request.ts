// Wire contract of `POST /transcode`: the source segment is the body (video/mp2t); what to make of it
// travels in headers; the answer is multipart/mixed, one part per rendition (see multipart.ts).
// `POST /transcode/live` (progressive) takes the same headers plus the seconds paid for and the part target;
// its body is CMAF (video/mp4: init segment, then fragments) streamed while the segment is ingested, and its
// answer is a stream of frames (fragment-stream.ts).

import { z } from 'zod';
import { ladderSchema, type RenditionSpec } from './rendition.ts';
import { idPattern, parseRequest } from './fields.ts';
import { MAX_PART_TARGET_S, MIN_PART_TARGET_S } from './part-signature.ts';
import { MAX_TARGET_DURATION_SECONDS } from './stream-record.ts';

export const TRANSCODE_HEADERS = {
  playbackId: 'castnet-playback-id',
  seq: 'castnet-seq',
  renditions: 'castnet-renditions',
  sourceFps: 'castnet-source-fps',
  sourceAudio: 'castnet-source-audio',
  rendition: 'castnet-rendition',
  paidSeconds: 'castnet-paid-seconds',
  partTarget: 'castnet-part-target',
  keyframesAt: 'castnet-keyframes-at',
} as const;

export interface TranscodeParams {
  playbackId: string;
  seq: number;
  renditions: RenditionSpec[];
  sourceFps: number;
  sourceAudio: string;
}

const paramsSchema = z.object({
  playbackId: z.string().regex(idPattern),
  seq: z.coerce.number().int().nonnegative(),
  renditions: z.string().transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not JSON' });
      return z.NEVER;
    }
  }).pipe(ladderSchema.min(1)),
  sourceFps: z.coerce.number().positive().max(240).default(30),
  sourceAudio: z.string().max(32).default('none'),
});

export function transcodeHeaders(params: TranscodeParams): Record<string, string> {
  return {
    [TRANSCODE_HEADERS.playbackId]: params.playbackId,
    [TRANSCODE_HEADERS.seq]: String(params.seq),
    [TRANSCODE_HEADERS.renditions]: JSON.stringify(params.renditions),
    [TRANSCODE_HEADERS.sourceFps]: String(params.sourceFps),
    [TRANSCODE_HEADERS.sourceAudio]: params.sourceAudio,
  };
}

export function parseTranscodeHeaders(headers: Record<string, string | string[] | undefined>): TranscodeParams {
  const fields = {
    playbackId: headers[TRANSCODE_HEADERS.playbackId],
    seq: headers[TRANSCODE_HEADERS.seq],
    renditions: headers[TRANSCODE_HEADERS.renditions],
    sourceFps: headers[TRANSCODE_HEADERS.sourceFps],
    sourceAudio: headers[TRANSCODE_HEADERS.sourceAudio],
  };
  return parseRequest(paramsSchema, fields, 'transcode request headers');
}

/** What a progressive transcode adds to the segment's headers. */
export interface LiveTranscodeParams {
  /**
   * Seconds of source the payment covers: the transcoder reads no more input than this. Priced before the
   * segment exists, at each rendition's own frame rate (the most frames it can have), by both sides.
   */
  paidSeconds: number;
  /** Output is fragmented at 90% of this (the stream's PART-TARGET). */
  partTarget: number;
  /**
   * A stand-in's resume points, one per rendition in ladder order: rendition i gets a keyframe (IDR) at its
   * frame keyframesAt[i] (0: none), so its output can continue parts another transcoder began; frames are
   * counted from the segment's first, as every transcoder numbers them.
   */
  keyframesAt?: number[];
}

/** The most frames a resume point may name (a minute at 240 fps). */
const MAX_KEYFRAME_AT = 14_400;

const liveSchema = z.object({
  paidSeconds: z.coerce.number().positive().max(MAX_TARGET_DURATION_SECONDS),
  partTarget: z.coerce.number().min(MIN_PART_TARGET_S).max(MAX_PART_TARGET_S),
  keyframesAt: z
    .string()
    .regex(/^\d{1,5}(,\d{1,5}){0,31}$/, 'a comma-separated list of frame numbers')
    .transform((v) => v.split(',').map(Number))
    .refine((v) => v.every((n) => n <= MAX_KEYFRAME_AT), `frame numbers are at most ${MAX_KEYFRAME_AT}`)
    .optional(),
});

export function liveTranscodeHeaders(params: LiveTranscodeParams): Record<string, string> {
  return {
    [TRANSCODE_HEADERS.paidSeconds]: params.paidSeconds.toFixed(3),
    [TRANSCODE_HEADERS.partTarget]: String(params.partTarget),
    ...(params.keyframesAt ? { [TRANSCODE_HEADERS.keyframesAt]: params.keyframesAt.join(',') } : {}),
  };
}

export function parseLiveTranscodeHeaders(headers: Record<string, string | string[] | undefined>): LiveTranscodeParams {
  const parsed = parseRequest(
    liveSchema,
    { paidSeconds: headers[TRANSCODE_HEADERS.paidSeconds], partTarget: headers[TRANSCODE_HEADERS.partTarget], keyframesAt: headers[TRANSCODE_HEADERS.keyframesAt] },
    'progressive transcode headers',
  );
  const { keyframesAt, ...rest } = parsed;
  return keyframesAt ? { ...rest, keyframesAt } : rest;
}

