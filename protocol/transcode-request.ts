// Wire contract of `POST /transcode`: the source segment is the body (video/mp2t); what to make of it
// travels in headers; the answer is multipart/mixed, one part per rendition (see multipart.ts).

import { z } from 'zod';
import { ladderSchema, type RenditionSpec } from './rendition.ts';
import { idPattern, parseRequest } from './fields.ts';

export const TRANSCODE_HEADERS = {
  playbackId: 'castnet-playback-id',
  seq: 'castnet-seq',
  renditions: 'castnet-renditions',
  sourceFps: 'castnet-source-fps',
  sourceAudio: 'castnet-source-audio',
  rendition: 'castnet-rendition',
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
