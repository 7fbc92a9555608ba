// Wire contract of a recorder's report to the orchestrator (`POST /api/streams/<id>/recording`, signed by
// the stream's origin relay): the recording is ready to play as VOD. It becomes the stream's `recording`
// in its status and a `recording.ready` webhook.

import { z } from 'zod';
import { idPattern } from './fields.ts';

export const recordingReportSchema = z.object({
  recordingId: z.string().regex(idPattern),
  /** Where it plays, e.g. `<relay>/vod/<recordingId>/master.m3u8`. */
  playbackUrl: z.string().max(2_048).refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), 'an http(s) URL').optional(),
  durationSeconds: z.number().nonnegative().max(10 * 365 * 86_400).optional(),
  bytes: z.number().int().nonnegative().optional(),
  segments: z.number().int().nonnegative().optional(),
});
export type RecordingReport = z.infer<typeof recordingReportSchema>;
