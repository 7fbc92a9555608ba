// Writes Low-Latency HLS media playlists (RFC 8216bis §4.4.4.9, §4.4.3.7–8, §6.2.5) for CMAF renditions:
// EXT-X-MAP per init segment, EXT-X-PART-INF, EXT-X-SERVER-CONTROL (blocking reload, PART-HOLD-BACK,
// CAN-SKIP-UNTIL), the parts of the newest segments and of the open one, EXT-X-PRELOAD-HINT for the next part,
// EXT-X-RENDITION-REPORT for the other renditions, and delta updates (EXT-X-SKIP). Runs per playlist change at
// the relay (the bytes are cached): string building only.

import { CastnetError } from '../protocol/errors.ts';
import { renditionNamePattern } from '../protocol/fields.ts';
import { MAX_TARGET_DURATION_SECONDS } from '../protocol/stream-record.ts';

const PROGRAM_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/** PART-HOLD-BACK in part targets: the specification's floor is 3 (§4.4.3.8); hls.js starts that far behind the edge. */
export const PART_HOLD_BACK_TARGETS = 3;
/** CAN-SKIP-UNTIL in target durations: at least 6 (§4.4.3.8). */
export const SKIP_TARGET_DURATIONS = 6;
/** Segments, counted from the newest, whose parts stay listed (the specification asks for at least the last 3 target durations' worth). */
export const PART_LISTED_SEGMENTS = 2;

export interface LlPart {
  duration: number;
  independent: boolean;
}

export interface LlSegment {
  seq: number;
  duration: number;
  programDateTime: string;
  discontinuity: boolean;
  gap: boolean;
  /** The init segment it needs: its first sequence number (init-<seq>.mp4). */
  initSeq: number;
  parts: readonly LlPart[];
}

export interface LlPlaylist {
  targetDuration: number;
  partTarget: number;
  discontinuitySequence: number;
  segments: readonly LlSegment[];
  /** The segment being ingested: its sequence, init and the parts that exist so far. */
  open: { seq: number; initSeq: number; parts: readonly LlPart[] } | null;
  ended: boolean;
  /** Other renditions' newest segment and part, for EXT-X-RENDITION-REPORT. */
  reports: ReadonlyArray<{ rendition: string; lastMsn: number; lastPart: number | null }>;
  /** A delta update (_HLS_skip=YES): segments older than CAN-SKIP-UNTIL are replaced by EXT-X-SKIP. */
  skip?: boolean;
}

function refuse(what: string, value: unknown): never {
  throw new CastnetError('INTERNAL', `refusing to write ${what} ${JSON.stringify(value)} into a playlist`);
}

function seconds(what: string, value: number, max: number): string {
  if (!Number.isFinite(value) || value < 0 || value > max) refuse(what, value);
  return value.toFixed(5).replace(/0+$/, '').replace(/\.$/, '.0');
}

function whole(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > Number.MAX_SAFE_INTEGER) refuse(what, value);
  return value;
}

export function skipUntilSeconds(targetDuration: number): number {
  return SKIP_TARGET_DURATIONS * targetDuration;
}

function partLines(seq: number, parts: readonly LlPart[], partTarget: number): string[] {
  return parts.map((p, i) => `#EXT-X-PART:DURATION=${seconds('part duration', p.duration, partTarget)},URI="${seq}.${i}.m4s"${p.independent ? ',INDEPENDENT=YES' : ''}`);
}

export function writeLlPlaylist(p: LlPlaylist): string {
  const target = whole('target duration', p.targetDuration);
  if (target < 1 || target > MAX_TARGET_DURATION_SECONDS) refuse('target duration', target);
  const skipUntil = skipUntilSeconds(target);
  const firstSeq = p.segments[0]?.seq ?? p.open?.seq ?? 0;
  // A delta update drops the oldest segments while what stays still spans CAN-SKIP-UNTIL (§6.2.5.1).
  let skipped = 0;
  if (p.skip) {
    let span = 0;
    for (let i = p.segments.length - 1; i >= 0; i--) {
      span += p.segments[i]!.duration;
      if (span > skipUntil) {
        skipped = i + 1;
        break;
      }
    }
  }
  const holdBack = PART_HOLD_BACK_TARGETS * p.partTarget;
  const lines = [
    '#EXTM3U',
    `#EXT-X-VERSION:${p.skip ? 9 : 6}`,
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-MEDIA-SEQUENCE:${whole('media sequence', firstSeq)}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${whole('discontinuity sequence', p.discontinuitySequence)}`,
    `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=${seconds('skip until', skipUntil, 10_000)},PART-HOLD-BACK=${seconds('part hold back', holdBack, 60)}`,
    `#EXT-X-PART-INF:PART-TARGET=${seconds('part target', p.partTarget, MAX_TARGET_DURATION_SECONDS)}`,
  ];
  if (skipped > 0) lines.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${skipped}`);
  // EXT-X-MAP applies to every segment after it until the next (§4.4.4.5); a skipped range keeps the last one.
  let map: number | null = null;
  const mapFor = (initSeq: number) => {
    if (map !== initSeq) lines.push(`#EXT-X-MAP:URI="init-${whole('init sequence', initSeq)}.mp4"`);
    map = initSeq;
  };
  const partsFrom = p.segments.length - PART_LISTED_SEGMENTS;
  p.segments.forEach((s, i) => {
    if (i < skipped) return;
    if (!PROGRAM_DATE_TIME.test(s.programDateTime)) refuse('program date-time', s.programDateTime);
    if (s.discontinuity && i > skipped) lines.push('#EXT-X-DISCONTINUITY');
    mapFor(s.initSeq);
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${s.programDateTime}`);
    if (i >= partsFrom && !s.gap) lines.push(...partLines(s.seq, s.parts, p.partTarget));
    lines.push(`#EXTINF:${seconds('segment duration', s.duration, MAX_TARGET_DURATION_SECONDS)},`);
    if (s.gap) lines.push('#EXT-X-GAP');
    lines.push(`${whole('segment sequence', s.seq)}.m4s`);
  });
  if (p.ended) {
    lines.push('#EXT-X-ENDLIST');
  } else if (p.open) {
    const newest = p.segments.at(-1);
    if (newest && p.open.initSeq !== newest.initSeq) lines.push('#EXT-X-DISCONTINUITY');
    mapFor(p.open.initSeq);
    lines.push(...partLines(p.open.seq, p.open.parts, p.partTarget));
    lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${whole('segment sequence', p.open.seq)}.${p.open.parts.length}.m4s"`);
  }
  for (const r of p.reports) {
    if (!renditionNamePattern.test(r.rendition)) refuse('rendition name', r.rendition);
    lines.push(`#EXT-X-RENDITION-REPORT:URI="../${r.rendition}/index.m3u8",LAST-MSN=${whole('report msn', r.lastMsn)}${r.lastPart === null ? '' : `,LAST-PART=${whole('report part', r.lastPart)}`}`);
  }
  return `${lines.join('\n')}\n`;
}
