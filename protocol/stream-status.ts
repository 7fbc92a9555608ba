// Wire contract of one stream's status, `GET /api/streams/<playbackId>`: its lifecycle (idle → live → ended),
// when it started and ended, its renditions, its viewers across relays, and — while it is live — the
// directory entry's fields (relay, playback and watch URLs, transcoders, publisher key).

import { z } from 'zod';
import { addressString } from './fields.ts';
import { streamDirectoryEntrySchema } from './stream-record.ts';

/**
 * `idle`: a session is open but nothing has been published yet; `live`: segments are flowing (a reconnect
 * within the broadcaster's grace period stays `live`); `ended`: the session was closed or lapsed.
 */
export const streamStateSchema = z.enum(['idle', 'live', 'ended']);
export type StreamState = z.infer<typeof streamStateSchema>;

export const streamStatusSchema = streamDirectoryEntrySchema
  .partial({ playbackUrl: true, watchUrl: true, relay: true, transcoder: true, transcoders: true, warnings: true })
  .extend({
    state: streamStateSchema,
    /** When the stream went live (stable across reconnects within the grace period); null while idle. */
    startedAt: z.string().nullable(),
    endedAt: z.string().nullable(),
    /** Viewers the relays counted in their last heartbeats, summed. */
    viewers: z.number().int().nonnegative(),
    /** The stream's recording, filled by the recorder when there is one; null otherwise. */
    recording: z.unknown().nullable().default(null),
    publisher: addressString.transform((a) => a.toLowerCase()).nullable().default(null),
  });
export type StreamStatus = z.infer<typeof streamStatusSchema>;
