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

/** A parsed playlist of this writer's form, as an edge reads its parent's (upstream.ts). */
export interface ParsedLlPlaylist extends LlPlaylist {
  /** The preload hint's part, when the playlist names one. */
  hint: { seq: number; part: number } | null;
}

const ATTR = /([A-Z0-9-]+)=("[^"]*"|[^,]*)/g;

function attributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(ATTR)) out.set(m[1]!, m[2]!.startsWith('"') ? m[2]!.slice(1, -1) : m[2]!);
  return out;
}

function bad(line: string, why: string): never {
  throw new Error(`the LL-HLS playlist line ${JSON.stringify(line.slice(0, 120))} ${why}`);
}

function num(line: string, value: string | undefined): number {
  const n = Number(value);
  if (value === undefined || value === '' || !Number.isFinite(n) || n < 0) bad(line, 'carries no valid number');
  return n;
}

/**
 * Reads a full LL-HLS media playlist of the form writeLlPlaylist writes (as a parent relay serves it), so an
 * edge can re-serve it with its own blocking reload and delta updates. Anything else (a delta update, an
 * unknown tag order, a URI of another shape) is refused with an Error naming the line: writeLlPlaylist(parse(x))
 * is x for every playlist this module writes.
 */
export function parseLlPlaylist(text: string): ParsedLlPlaylist {
  const lines = text.split('\n');
  if (lines[0] !== '#EXTM3U') bad(lines[0] ?? '', 'is not #EXTM3U');
  let targetDuration = NaN;
  let partTarget = NaN;
  let mediaSequence = 0;
  let discontinuitySequence = 0;
  let ended = false;
  let hint: ParsedLlPlaylist['hint'] = null;
  let map: number | null = null;
  let pending: { discontinuity: boolean; programDateTime: string | null; duration: number | null; gap: boolean; parts: LlPart[]; partSeq: number | null } = { discontinuity: false, programDateTime: null, duration: null, gap: false, parts: [], partSeq: null };
  const segments: LlSegment[] = [];
  const reports: Array<{ rendition: string; lastMsn: number; lastPart: number | null }> = [];
  const fresh = () => ({ discontinuity: false, programDateTime: null, duration: null, gap: false, parts: [], partSeq: null });
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    const tag = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1);
    switch (tag) {
      case '#EXT-X-VERSION':
      case '#EXT-X-SERVER-CONTROL':
        break;
      case '#EXT-X-TARGETDURATION':
        targetDuration = num(line, value);
        break;
      case '#EXT-X-MEDIA-SEQUENCE':
        mediaSequence = num(line, value);
        break;
      case '#EXT-X-DISCONTINUITY-SEQUENCE':
        discontinuitySequence = num(line, value);
        break;
      case '#EXT-X-PART-INF':
        partTarget = num(line, attributes(value).get('PART-TARGET'));
        break;
      case '#EXT-X-SKIP':
        bad(line, 'is a delta update: an edge follows the full playlist');
      case '#EXT-X-MAP': {
        const m = /^init-(\d{1,15})\.mp4$/.exec(attributes(value).get('URI') ?? '');
        if (!m) bad(line, 'names no init-<seq>.mp4');
        map = Number(m[1]);
        break;
      }
      case '#EXT-X-DISCONTINUITY':
        pending.discontinuity = true;
        break;
      case '#EXT-X-PROGRAM-DATE-TIME':
        if (!PROGRAM_DATE_TIME.test(value)) bad(line, 'is not an ISO 8601 date-time');
        pending.programDateTime = value;
        break;
      case '#EXT-X-PART': {
        const a = attributes(value);
        const m = /^(\d{1,15})\.(\d{1,4})\.m4s$/.exec(a.get('URI') ?? '');
        if (!m || Number(m[2]) !== pending.parts.length || (pending.partSeq !== null && Number(m[1]) !== pending.partSeq)) bad(line, 'is not the next part');
        pending.partSeq = Number(m[1]);
        pending.parts.push({ duration: num(line, a.get('DURATION')), independent: a.get('INDEPENDENT') === 'YES' });
        break;
      }
      case '#EXTINF':
        pending.duration = num(line, value.replace(/,.*$/, ''));
        break;
      case '#EXT-X-GAP':
        pending.gap = true;
        break;
      case '#EXT-X-ENDLIST':
        ended = true;
        break;
      case '#EXT-X-PRELOAD-HINT': {
        const a = attributes(value);
        const m = /^(\d{1,15})\.(\d{1,4})\.m4s$/.exec(a.get('URI') ?? '');
        if (a.get('TYPE') !== 'PART' || !m) bad(line, 'is not a part hint of this form');
        hint = { seq: Number(m[1]), part: Number(m[2]) };
        break;
      }
      case '#EXT-X-RENDITION-REPORT': {
        const a = attributes(value);
        const m = /^\.\.\/([^/]+)\/index\.m3u8$/.exec(a.get('URI') ?? '');
        if (!m || !renditionNamePattern.test(m[1]!)) bad(line, 'names no sibling rendition');
        reports.push({ rendition: m[1]!, lastMsn: num(line, a.get('LAST-MSN')), lastPart: a.has('LAST-PART') ? num(line, a.get('LAST-PART')) : null });
        break;
      }
      default: {
        if (line.startsWith('#')) bad(line, 'is a tag this playlist form does not have');
        const m = /^(\d{1,15})\.m4s$/.exec(line);
        const seq = mediaSequence + segments.length;
        if (!m || Number(m[1]) !== seq) bad(line, `is not segment ${seq}`);
        if (pending.duration === null || pending.programDateTime === null || map === null) bad(line, 'lacks its EXTINF, program date-time or EXT-X-MAP');
        if (pending.partSeq !== null && pending.partSeq !== seq) bad(line, 'follows parts of another segment');
        segments.push({ seq, duration: pending.duration, programDateTime: pending.programDateTime, discontinuity: pending.discontinuity, gap: pending.gap, initSeq: map, parts: pending.parts });
        pending = fresh();
      }
    }
  }
  if (!Number.isInteger(targetDuration) || !(partTarget > 0)) throw new Error('the LL-HLS playlist has no EXT-X-TARGETDURATION or EXT-X-PART-INF');
  let open: LlPlaylist['open'] = null;
  if (!ended && hint !== null) {
    const seq = mediaSequence + segments.length;
    if (hint.seq !== seq || hint.part !== pending.parts.length || (pending.partSeq !== null && pending.partSeq !== seq) || map === null) throw new Error(`the LL-HLS playlist's preload hint ${hint.seq}.${hint.part} is not the next part of segment ${seq}`);
    open = { seq, initSeq: map, parts: pending.parts };
  }
  return { targetDuration, partTarget, discontinuitySequence, segments, open, ended, reports, hint };
}
