// Segment metadata that travels with every segment (broadcaster → transcoder → broadcaster → relay) as
// HTTP headers, so the relay can build playlists without parsing media.

import { z } from 'zod';
import { parseRequest } from './fields.ts';
import { MAX_TARGET_DURATION_SECONDS } from './stream-record.ts';
import { CONTENT_SIGNATURE_HEADER } from './content-signature.ts';

/**
 * A rendition's segment this many segments behind its stream's newest is given up: relays list it as a gap
 * (EXT-X-GAP) in that rendition's playlist, so the playlist keeps pace with the stream, and drop it if it
 * comes later (a listed segment never changes, RFC 8216bis §6.2.1); broadcasters do not start transcoding
 * it. Four: a hung transcoder is hedged after two segment durations and its stand-in answers within about
 * one more, so an honest failover publishes within three.
 */
export const RENDITION_LAG_SEGMENTS = 4;

export const SEGMENT_HEADERS = {
  duration: 'castnet-duration',
  programDateTime: 'castnet-program-date-time',
  discontinuity: 'castnet-discontinuity',
} as const;

export const segmentMetadataSchema = z.object({
  // Bounded like the target duration: EXTINF rounded may not exceed EXT-X-TARGETDURATION (RFC 8216 §4.3.3.1).
  duration: z.coerce.number().positive().max(MAX_TARGET_DURATION_SECONDS),
  programDateTime: z.iso.datetime({ offset: true }),
  discontinuity: z.enum(['0', '1']).transform((v) => v === '1'),
});
export type SegmentMetadata = { duration: number; programDateTime: string; discontinuity: boolean };

export function segmentMetadataHeaders(meta: SegmentMetadata): Record<string, string> {
  return {
    [SEGMENT_HEADERS.duration]: meta.duration.toFixed(6),
    [SEGMENT_HEADERS.programDateTime]: meta.programDateTime,
    [SEGMENT_HEADERS.discontinuity]: meta.discontinuity ? '1' : '0',
  };
}

/** A segment's metadata and its publisher's signature (protocol/content-signature.ts), as relays hold and serve them. */
export type SignedSegmentMetadata = SegmentMetadata & { signature: string };

/**
 * The headers a relay sends with a segment so the next hop (an edge, a player) can check it: the metadata
 * and the publisher's signature over it and the bytes. Built once per segment at arrival.
 */
export function signedSegmentHeaders(meta: SignedSegmentMetadata): Record<string, string> {
  return { ...segmentMetadataHeaders(meta), [CONTENT_SIGNATURE_HEADER]: meta.signature };
}

/** Every header a segment's check needs: what a relay exposes to players on other origins (CORS). */
export const SIGNED_SEGMENT_HEADER_NAMES: readonly string[] = [...Object.values(SEGMENT_HEADERS), CONTENT_SIGNATURE_HEADER];

export function parseSegmentMetadata(headers: Record<string, string | string[] | undefined>): SegmentMetadata {
  return parseRequest(
    segmentMetadataSchema,
    { duration: headers[SEGMENT_HEADERS.duration], programDateTime: headers[SEGMENT_HEADERS.programDateTime], discontinuity: headers[SEGMENT_HEADERS.discontinuity] ?? '0' },
    'segment metadata headers',
  );
}
