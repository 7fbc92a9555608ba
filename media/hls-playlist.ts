// Writes HLS playlists (RFC 8216) from segment metadata: the multivariant playlist and live media playlists.
// Runs per playlist request at the relay: string building only, no media access.

import { CastnetError } from '../protocol/errors.ts';
import { renditionNamePattern } from '../protocol/fields.ts';
import { codecsPattern, MAX_TARGET_DURATION_SECONDS, VARIANT_LIMITS, type Variant } from '../protocol/stream-record.ts';

// Defence in depth: the schemas in protocol/ already refuse these values at the edge, but a playlist is
// line- and attribute-structured text, so the writer checks once more that nothing it writes can end a
// line, close a quoted string or start another attribute (an injected variant URL, issue 11).
const PROGRAM_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

function refuse(what: string, value: unknown): never {
  throw new CastnetError('INTERNAL', `refusing to write ${what} ${JSON.stringify(value)} into a playlist`);
}

function wholeIn(what: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) refuse(what, value);
  return value;
}

function finiteIn(what: string, value: number, min: number, max: number): number {
  if (!Number.isFinite(value) || value < min || value > max) refuse(what, value);
  return value;
}

export interface PlaylistEntry {
  seq: number;
  duration: number;
  programDateTime: string;
  discontinuity: boolean;
  /** A segment the relay never received (e.g. its transcode failed): listed with EXT-X-GAP so numbering stays right. */
  gap: boolean;
  /** A CMAF segment (`<seq>.m4s`) and the sequence number of the init segment it needs (`init-<seq>.mp4`, EXT-X-MAP); none: MPEG-TS (`<seq>.ts`). */
  init?: number;
}

export interface MediaPlaylist {
  targetDuration: number;
  /** Advertise blocking playlist reload (_HLS_msn), RFC 8216bis §4.4.3.8. */
  canBlockReload?: boolean;
  discontinuitySequence: number;
  entries: PlaylistEntry[];
  ended: boolean;
  /** `VOD` for a recording: the playlist will never change (RFC 8216 §4.3.3.5). */
  playlistType?: 'VOD';
  /** Written before each `<seq>.ts`, `<seq>.m4s` and `init-<seq>.mp4` (recordings and rewind name segments by a longer path); none: relative. */
  uriPrefix?: string;
}

/** A segment URI prefix: path characters only, nothing that could end a line or start a tag. */
const URI_PREFIX = /^[A-Za-z0-9_.\/-]*$/;

export function writeMediaPlaylist(playlist: MediaPlaylist): string {
  const first = playlist.entries[0];
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:6',
    `#EXT-X-TARGETDURATION:${wholeIn('target duration', playlist.targetDuration, 1, MAX_TARGET_DURATION_SECONDS)}`,
    `#EXT-X-MEDIA-SEQUENCE:${first ? wholeIn('media sequence', first.seq, 0, Number.MAX_SAFE_INTEGER) : 0}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${wholeIn('discontinuity sequence', playlist.discontinuitySequence, 0, Number.MAX_SAFE_INTEGER)}`,
  ];
  if (playlist.playlistType) lines.push(`#EXT-X-PLAYLIST-TYPE:${playlist.playlistType}`);
  if (playlist.canBlockReload) lines.push('#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES');
  const prefix = playlist.uriPrefix ?? '';
  if (!URI_PREFIX.test(prefix)) refuse('segment URI prefix', prefix);
  let map: number | undefined;
  for (const entry of playlist.entries) {
    if (!PROGRAM_DATE_TIME.test(entry.programDateTime)) refuse('program date-time', entry.programDateTime);
    if (entry.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
    // EXT-X-MAP applies to every segment after it until the next (RFC 8216 §4.3.2.5): written where it changes.
    if (entry.init !== undefined && entry.init !== map) {
      map = entry.init;
      lines.push(`#EXT-X-MAP:URI="${prefix}init-${wholeIn('init sequence', map, 0, Number.MAX_SAFE_INTEGER)}.mp4"`);
    }
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${entry.programDateTime}`);
    lines.push(`#EXTINF:${finiteIn('segment duration', entry.duration, 0, MAX_TARGET_DURATION_SECONDS).toFixed(3)},`);
    if (entry.gap) lines.push('#EXT-X-GAP');
    lines.push(`${prefix}${wholeIn('segment sequence', entry.seq, 0, Number.MAX_SAFE_INTEGER)}.${entry.init === undefined ? 'ts' : 'm4s'}`);
  }
  if (playlist.ended) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}

export function writeMultivariantPlaylist(variants: ReadonlyArray<Variant & { averageBandwidth?: number }>): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-INDEPENDENT-SEGMENTS'];
  for (const v of variants) {
    // Quoted-string values may not hold a quote or a line break (RFC 8216 §4.2); names also form the URI.
    if (typeof v.name !== 'string' || !renditionNamePattern.test(v.name)) refuse('rendition name', v.name);
    if (typeof v.codecs !== 'string' || !codecsPattern.test(v.codecs)) refuse('codecs', v.codecs);
    const { maxDimension, maxBandwidth, maxFrameRate } = VARIANT_LIMITS;
    const attrs = [
      `BANDWIDTH=${wholeIn('bandwidth', v.bandwidth, 1, maxBandwidth)}`,
      ...(v.averageBandwidth ? [`AVERAGE-BANDWIDTH=${wholeIn('average bandwidth', v.averageBandwidth, 1, maxBandwidth)}`] : []),
      `RESOLUTION=${wholeIn('width', v.width, 1, maxDimension)}x${wholeIn('height', v.height, 1, maxDimension)}`,
      `CODECS="${v.codecs}"`,
      ...(v.frameRate ? [`FRAME-RATE=${finiteIn('frame rate', v.frameRate, 0, maxFrameRate).toFixed(3)}`] : []),
      `NAME="${v.name}"`,
    ];
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`, `${v.name}/index.m3u8`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The media sequence numbers of the first and last segments a media playlist lists (last is first - 1 when
 * it lists none), its target duration, and whether it ended (EXT-X-ENDLIST).
 */
export function lastMediaSequence(playlist: string): { first: number; last: number; targetDuration: number; ended: boolean } {
  const first = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist)?.[1] ?? 0);
  const targetDuration = Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(playlist)?.[1] ?? 2);
  let count = 0;
  let ended = false;
  for (const line of playlist.split('\n')) {
    if (line === '#EXT-X-ENDLIST') ended = true;
    else if (line && !line.startsWith('#')) count++;
  }
  return { first, last: first + count - 1, targetDuration, ended };
}
