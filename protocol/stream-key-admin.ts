// The stream-key admin contract: what the operator's dashboard asks a broadcaster to make or list
// (`POST`/`GET /admin/stream-keys`, behind the admin token), and what it answers: the new key with the OBS
// settings that publish with it, or the keys as the dashboard shows them (key, playback id, creation time;
// never a webhook secret or a playback signing key). The broadcaster's routes parse requests with these
// schemas, and the orchestrator's client parses the answers with the same ones.

import { z } from 'zod';
import { CastnetError } from './errors.ts';
import { describeIssues, idPattern } from './fields.ts';

export const STREAM_KEY_ADMIN_PATH = '/admin/stream-keys';

/** A create request is a handful of flags: anything larger is not one. */
export const STREAM_KEY_CREATE_MAX_BYTES = 1024;
/** The list answers at most this many keys (the newest): an answer stays small enough to bound. */
export const MAX_LISTED_KEYS = 1_000;
/** One key's answer is under a kilobyte; the longest list is about 200 bytes a key. */
export const STREAM_KEY_ANSWER_MAX_BYTES = 512 * 1024;

/** What OBS needs besides server and key (README: Stream from OBS). */
export const OBS_RECOMMENDED = {
  service: 'Custom…',
  keyframeInterval: '2 s (Advanced output mode: Keyframe Interval 2 s; Simple mode with x264: keyint=60 at 30 fps in Custom Encoder Settings)',
  video: 'H.264 8-bit 4:2:0 (NV12), Main or High profile',
  audio: 'AAC',
} as const;

/** The body of a create: empty (`{}`), or whether the origin keeps a recording of the key's streams. */
export const streamKeyCreateRequestSchema = z.strictObject({
  record: z.boolean().optional(),
});
export type StreamKeyCreateRequest = z.infer<typeof streamKeyCreateRequestSchema>;

/** A create's raw body as a request: empty is `{}` (the dashboard's button sends none); else JSON of the schema, or 400 with a reason. */
export function parseStreamKeyCreateBody(body: Buffer): StreamKeyCreateRequest {
  let json: unknown = {};
  if (body.length > 0) {
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw new CastnetError('BAD_REQUEST', 'a stream-key request is a JSON object such as {} or {"record": false}', { reason: 'malformed_json' });
    }
  }
  const parsed = streamKeyCreateRequestSchema.safeParse(json);
  if (!parsed.success) throw new CastnetError('BAD_REQUEST', `invalid stream-key request: ${describeIssues(parsed.error)}`, { reason: 'bad_stream_key_request' });
  return parsed.data;
}

/** Stream keys as the broadcaster's store accepts them (broadcaster/stream-keys.ts). */
const streamKey = z.string().regex(/^[A-Za-z0-9_.~-]{1,128}$/);
const playbackId = z.string().regex(idPattern);
/** OBS's Server field: `rtmp://<broadcaster>/live`. */
const rtmpServer = z.string().max(512).regex(/^rtmps?:\/\/[^\s]+$/);
const watchUrl = z.string().max(2048).refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), 'an http(s) URL');
const obsText = z.string().max(512);

export const streamKeyCreatedSchema = z.object({
  streamKey,
  playbackId,
  server: rtmpServer,
  watchUrl: watchUrl.nullable(),
  obs: z.object({ service: obsText, server: rtmpServer, streamKey, keyframeInterval: obsText, video: obsText, audio: obsText }),
});
export type StreamKeyCreated = z.infer<typeof streamKeyCreatedSchema>;

export const streamKeyListSchema = z.object({
  server: rtmpServer,
  keys: z.array(z.object({ streamKey, playbackId, createdAt: z.string().max(64) })).max(MAX_LISTED_KEYS),
});
export type StreamKeyList = z.infer<typeof streamKeyListSchema>;

/**
 * Where the dashboard's stream keys are made: the broadcaster's key store in the same process (castnet dev),
 * or a broadcaster's admin routes over HTTP (`castnet orchestrator --key-issuer-url`).
 */
export interface StreamKeyIssuer {
  create(request: StreamKeyCreateRequest): Promise<StreamKeyCreated>;
  list(): Promise<StreamKeyList>;
}

/** The answer to a create, the same wherever the key was made. */
export function streamKeyCreated(key: { streamKey: string; playbackId: string }, server: string, watch: string | null): StreamKeyCreated {
  return { streamKey: key.streamKey, playbackId: key.playbackId, server, watchUrl: watch, obs: { ...OBS_RECOMMENDED, server, streamKey: key.streamKey } };
}
