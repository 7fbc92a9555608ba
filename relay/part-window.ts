// One CMAF rendition's low-latency state at a relay: its init segments (EXT-X-MAP), the parts of its newest
// segments and of the one being ingested, and the requests waiting for a part (blocking reload with
// _HLS_part, a preload-hinted part GET). Owned by the StreamStore's rendition window, which keeps the whole
// segments; this keeps what comes before them. Parts are immutable: a second push of a part must carry the
// same bytes. Bounded: parts per segment, init segments kept, part duration against the stream's PART-TARGET
// (players refuse longer parts), and waiters per rendition. Hot path: per part pushed, per part request.

import { CastnetError, type ErrorContext } from '../protocol/errors.ts';
import { MAX_PARTS_PER_SEGMENT } from '../protocol/part-signature.ts';
import { parseInit, fragmentTiming, type Fmp4Track } from '../media/fmp4.ts';
import { PlaylistWaiters } from './playlist-waiters.ts';

/** Positions order (segment, part): a completed segment sits after all of its parts. */
const PART_SLOTS = 1024;
/** Init segments kept (one per publication of the stream within the window). */
const MAX_INITS = 4;
/** Requests waiting on one rendition's parts (blocking reloads and hinted part GETs): an attacker holding sockets meets this bound. */
export const MAX_PART_WAITERS = 2_000;
/** Parts shorter than this share of PART-TARGET may only end a segment. */
const SHORT_PART_SHARE = 0.85;
/** A part may be this much longer than PART-TARGET: rounding of timescales (FLV's milliseconds). */
const PART_DURATION_SLACK_S = 0.001;
/**
 * A complete segment's parts must add up to its EXTINF within this (the rounding of durations written with
 * five decimals, as an edge reads them from its parent; well under a frame even at 240 fps).
 */
const PART_SUM_SLACK_S = 0.002;

export interface StoredPart {
  duration: number;
  independent: boolean;
  bytes: Buffer;
  etag: string;
  headers: Record<string, string>;
}

export interface StoredInit {
  seq: number;
  bytes: Buffer;
  tracks: Fmp4Track[];
  etag: string;
  headers: Record<string, string>;
}

export function position(seq: number, part: number | 'complete'): number {
  return seq * PART_SLOTS + (part === 'complete' ? PART_SLOTS - 1 : part);
}

export class PartWindow {
  readonly partTarget: number;
  private readonly inits = new Map<number, StoredInit>();
  private readonly parts = new Map<number, StoredPart[]>();
  /** Segments already complete: no more parts for them. */
  private readonly completed = new Set<number>();
  /**
   * Complete segments whose parts do not add up to them (a part never arrived: skipped behind a slow relay,
   * or refused): they are listed whole, without parts. Listing the parts there are would tell players the
   * segment is shorter than its EXTINF, a hole in the part timeline (seen at stream start: parts summing to
   * 1.967 s in a segment of 2.0 s).
   */
  private readonly unlisted = new Set<number>();
  readonly waiters = new PlaylistWaiters(MAX_PART_WAITERS);
  /** The newest position reached (a part, or a completed segment). */
  newest = -1;

  constructor(partTarget: number) {
    this.partTarget = partTarget;
  }

  putInit(seq: number, bytes: Buffer, headers: Record<string, string>, context: ErrorContext): StoredInit {
    const existing = this.inits.get(seq);
    if (existing) {
      if (!existing.bytes.equals(bytes)) throw new CastnetError('BAD_REQUEST', `init segment ${seq} is already published with other bytes`, context);
      return existing;
    }
    let tracks: Fmp4Track[];
    try {
      tracks = parseInit(bytes);
    } catch (err) {
      throw new CastnetError('INVALID_SEGMENT', (err as Error).message, context);
    }
    const init = { seq, bytes, tracks, etag: `"init.${seq}.${bytes.length}"`, headers };
    this.inits.set(seq, init);
    while (this.inits.size > MAX_INITS) this.inits.delete(Math.min(...this.inits.keys()));
    return init;
  }

  init(seq: number): StoredInit | undefined {
    return this.inits.get(seq);
  }

  /** The init segment that applies to `seq`: the newest one at or before it. */
  initFor(seq: number): StoredInit | undefined {
    let best: StoredInit | undefined;
    for (const init of this.inits.values()) if (init.seq <= seq && (!best || init.seq > best.seq)) best = init;
    return best;
  }

  /**
   * Stores part `part` of segment `seq`; parts arrive in order, so only the next one (or a repeat of one
   * stored with the same bytes) is taken. Returns its timing as read from the bytes.
   */
  putPart(seq: number, part: number, claimed: { duration: number; independent: boolean }, bytes: Buffer, headers: Record<string, string>, context: ErrorContext): StoredPart {
    const list = this.parts.get(seq) ?? [];
    const existing = list[part];
    if (existing) {
      if (!existing.bytes.equals(bytes)) throw new CastnetError('BAD_REQUEST', `part ${seq}.${part} is already published with other bytes`, context);
      return existing;
    }
    if (this.completed.has(seq)) throw new CastnetError('BAD_REQUEST', `segment ${seq} is complete: it takes no more parts`, context);
    if (part !== list.length) throw new CastnetError('BAD_REQUEST', `part ${seq}.${part} is out of order: the next part of segment ${seq} is ${list.length}`, context);
    if (part >= MAX_PARTS_PER_SEGMENT) throw new CastnetError('BAD_REQUEST', `a segment has at most ${MAX_PARTS_PER_SEGMENT} parts`, context);
    if (claimed.duration > this.partTarget + PART_DURATION_SLACK_S) throw new CastnetError('BAD_REQUEST', `part duration ${claimed.duration} s exceeds the stream's PART-TARGET ${this.partTarget} s`, context);
    const init = this.initFor(seq);
    if (!init) throw new CastnetError('BAD_REQUEST', `no init segment is published for segment ${seq}: push init-<seq>.mp4 first`, context);
    let timing;
    try {
      timing = fragmentTiming(bytes, init.tracks);
    } catch (err) {
      throw new CastnetError('INVALID_SEGMENT', (err as Error).message, context);
    }
    if (timing.independent !== claimed.independent) throw new CastnetError('INVALID_SEGMENT', `part ${seq}.${part} ${timing.independent ? 'starts' : 'does not start'} with a keyframe, unlike its claim`, context);
    if (Math.abs(timing.duration - claimed.duration) > 0.002) throw new CastnetError('INVALID_SEGMENT', `part ${seq}.${part} lasts ${timing.duration} s, not the ${claimed.duration} s it claims`, context);
    const stored: StoredPart = { ...claimed, bytes, etag: `"${seq}.${part}.${bytes.length}"`, headers };
    list.push(stored);
    this.parts.set(seq, list);
    // A short part can only end its segment (§4.4.4.9: parts are at least 85% of PART-TARGET but the last):
    // it is listed, and blocking reloads on it answered, once its segment completes a moment later, so no
    // playlist shows it followed by a preload hint.
    if (!this.isShort(stored)) this.reach(position(seq, part));
    return stored;
  }

  /**
   * Segment `seq` is complete (its whole segment of `duration` seconds arrived): no more parts, and waiters on
   * it wake. Its parts are listed only if they cover it.
   */
  complete(seq: number, duration: number): void {
    this.completed.add(seq);
    const parts = this.parts.get(seq) ?? [];
    const sum = parts.reduce((total, p) => total + p.duration, 0);
    if (parts.length > 0 && Math.abs(sum - duration) > PART_SUM_SLACK_S) this.unlisted.add(seq);
    this.reach(position(seq, 'complete'));
  }

  /**
   * Segments up to `seq` were given up (listed as gaps, stream-store.ts): the parts of any that is not
   * complete are dropped, it takes no more, and waiters on it wake. Returns the bytes freed.
   */
  giveUp(seq: number): number {
    let freed = 0;
    for (const [s, list] of this.parts) {
      if (s > seq || this.completed.has(s)) continue;
      for (const p of list) freed += p.bytes.length;
      this.parts.delete(s);
      this.completed.add(s);
      this.unlisted.add(s);
    }
    this.reach(position(seq, 'complete'));
    return freed;
  }

  private reach(pos: number): void {
    if (pos > this.newest) this.newest = pos;
    this.waiters.wake(this.newest);
  }

  partsOf(seq: number): readonly StoredPart[] {
    return this.parts.get(seq) ?? [];
  }

  private isShort(p: StoredPart): boolean {
    return p.duration < SHORT_PART_SHARE * this.partTarget;
  }

  /**
   * The parts a playlist lists: all of a complete segment's when they add up to it (none otherwise), an open
   * one's but a short last part.
   */
  listedParts(seq: number): readonly StoredPart[] {
    if (this.unlisted.has(seq)) return [];
    const list = this.parts.get(seq) ?? [];
    return !this.completed.has(seq) && list.length > 0 && this.isShort(list.at(-1)!) ? list.slice(0, -1) : list;
  }

  part(seq: number, part: number): StoredPart | undefined {
    return this.parts.get(seq)?.[part];
  }

  isComplete(seq: number): boolean {
    return this.completed.has(seq);
  }

  /** The segment being ingested: the newest one with parts that is not complete yet. */
  openSeq(): number | null {
    let open: number | null = null;
    for (const seq of this.parts.keys()) if (!this.completed.has(seq) && (open === null || seq > open)) open = seq;
    return open;
  }

  /** Waits until part `part` of `seq` (or the segment's completion) exists; rejects after `timeoutMs`. */
  waitFor(seq: number, part: number | 'complete', timeoutMs: number, context: ErrorContext): Promise<void> {
    const pos = position(seq, part);
    if (pos <= this.newest) return Promise.resolve();
    return this.waiters.wait(pos, timeoutMs, context);
  }

  /** Drops what belongs to segments before `oldest`; returns the bytes freed. */
  trim(oldest: number): number {
    let freed = 0;
    for (const [seq, list] of this.parts) {
      if (seq >= oldest) continue;
      for (const p of list) freed += p.bytes.length;
      this.parts.delete(seq);
    }
    for (const seq of this.completed) if (seq < oldest) this.completed.delete(seq);
    for (const seq of this.unlisted) if (seq < oldest) this.unlisted.delete(seq);
    return freed;
  }

  bytes(): number {
    let n = 0;
    for (const list of this.parts.values()) for (const p of list) n += p.bytes.length;
    return n;
  }
}
