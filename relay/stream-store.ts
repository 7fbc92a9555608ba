// The relay's live store: per stream, a bounded window of segments for each rendition, the timeline of
// segment metadata that playlists are built from, the end of a stream (EXT-X-ENDLIST), and expiry of
// streams nobody pushes to any more.
// Bounded against hostile pushes (issue 11): at most `maxStreams` streams and `maxRenditions` renditions a
// stream, segment bytes within a ByteBudget shared with the pull cache, and a sequence number far ahead of
// the window is refused rather than moving the window past every real segment. A refused push changes
// nothing and is reported by the `refused` event (castnet_relay_refused_total{reason}).
// Hot path: a lookup per segment or playlist request; segment bytes are stored once and served as is.

import { EventEmitter } from 'node:events';
import { writeMediaPlaylist, writeMultivariantPlaylist, type PlaylistEntry } from '../media/hls-playlist.ts';
import { CastnetError, type ErrorCode } from '../protocol/errors.ts';
import { ByteBudget } from './byte-budget.ts';
import { PlaylistWaiters } from './playlist-waiters.ts';
import { MAX_PART_WAITERS, PartWindow, type StoredInit, type StoredPart } from './part-window.ts';
import { SKIP_TARGET_DURATIONS, writeLlPlaylist, type LlSegment } from '../media/ll-playlist.ts';
import { fragmentTiming } from '../media/fmp4.ts';
import { RENDITION_LAG_SEGMENTS, signedSegmentHeaders, type SegmentMetadata, type SignedSegmentMetadata } from '../protocol/segment-metadata.ts';
import { MAX_TARGET_DURATION_SECONDS, VARIANT_LIMITS, type StreamDescriptor, type Variant } from '../protocol/stream-record.ts';

/** Streams pushed to one relay at once. */
export const STORE_MAX_STREAMS = 256;
/** Renditions of one stream (the broadcaster's ladder is source plus a few). */
export const STORE_MAX_RENDITIONS = 8;
/** Segment bytes held when no budget is shared with the pull cache (the relay's --cache-bytes default). */
export const STORE_BYTES = 512 * 1024 * 1024;
/**
 * How far past the newest segment a push may land. Failed transcodes leave gaps of a few; the rest is
 * allowed to grow with the time since the last push (one segment per half second), so a broadcaster back
 * after a long pause is accepted while one push of seq 999999999999 is not.
 */
export const STORE_MAX_SEQ_AHEAD = 100;
const SEQ_AHEAD_PER_MS = 1 / 500;
/** EXT-X-TARGETDURATION before any segment says otherwise, and its floor. */
const DEFAULT_TARGET_DURATION_SECONDS = 2;

/** Why a push was refused: the `reason` label of castnet_relay_refused_total. */
export type RefusalReason = 'streams' | 'renditions' | 'bytes' | 'seq_ahead';

export interface StoredSegment extends SignedSegmentMetadata {
  seq: number;
  bytes: Buffer;
  /** Strong validator, fixed at arrival: segments are immutable, so no per-request hashing. */
  etag: string;
  /** The metadata and signature headers served with it, built once. */
  headers: Record<string, string>;
}

interface RenditionWindow {
  segments: Map<number, StoredSegment>;
  firstSeq: number;
  maxSeq: number;
  /**
   * The newest seq its playlist lists: maxSeq, or past it once the stream's newest segment is
   * RENDITION_LAG_SEGMENTS ahead (the seqs between are listed as gaps, and dropped if they come later).
   */
  listedTo: number;
  /** The playlist as served, built once per change rather than per request. */
  playlist: Buffer | null;
  /** Blocking reloads waiting for a sequence number. */
  waiters: PlaylistWaiters;
  /** Low-latency (CMAF) renditions: init segments, parts and their waiters; null for MPEG-TS renditions. */
  ll: PartWindow | null;
  /** The delta update (_HLS_skip=YES) as served, rebuilt with the playlist. */
  delta: Buffer | null;
}

interface LiveStream {
  descriptor: StreamDescriptor | null;
  renditions: Map<string, RenditionWindow>;
  /** Metadata of every segment seq in the window, from whichever rendition arrived first. */
  timeline: Map<number, SegmentMetadata>;
  discontinuitiesBefore: number[];
  /** The newest seq in the timeline, -1 before the first segment. */
  newestSeq: number;
  lastPushAt: number;
  master: Buffer | null;
  /** The broadcaster said the stream ended: playlists carry EXT-X-ENDLIST until a new push reopens it. */
  ended: boolean;
}

export interface StreamStoreOptions {
  /** Segments listed in a media playlist. */
  playlistSegments: number;
  /** Segments kept beyond the playlist window, for players that fetch late. */
  extraSegments: number;
  /** A stream with no push for this long is dropped. */
  idleMs: number;
  maxStreams?: number;
  maxRenditions?: number;
  maxSeqAhead?: number;
  /** Segment bytes: a count of its own, or the budget shared with the pull cache. */
  budget?: number | ByteBudget;
  now?: () => number;
}

export interface StreamStoreEvents {
  streamStarted: [string];
  streamEnded: [string];
  streamExpired: [string];
  /** A segment was stored (accepted after every check): the recorder and the thumbnailer listen. */
  segmentStored: [playbackId: string, rendition: string, segment: StoredSegment];
  refused: [reason: RefusalReason, playbackId: string];
}

export class StreamStore extends EventEmitter<StreamStoreEvents> {
  private readonly streams = new Map<string, LiveStream>();
  private readonly options: StreamStoreOptions;
  private readonly now: () => number;
  private readonly maxStreams: number;
  private readonly maxRenditions: number;
  private readonly maxSeqAhead: number;
  readonly budget: ByteBudget;
  private held = 0;

  constructor(options: StreamStoreOptions) {
    super();
    this.options = options;
    this.now = options.now ?? Date.now;
    this.maxStreams = options.maxStreams ?? STORE_MAX_STREAMS;
    this.maxRenditions = options.maxRenditions ?? STORE_MAX_RENDITIONS;
    this.maxSeqAhead = options.maxSeqAhead ?? STORE_MAX_SEQ_AHEAD;
    const budget = options.budget ?? STORE_BYTES;
    this.budget = typeof budget === 'number' ? new ByteBudget(budget) : budget;
  }

  private refuse(reason: RefusalReason, code: ErrorCode, message: string, context: { playbackId: string; [key: string]: unknown }): never {
    this.emit('refused', reason, context.playbackId);
    throw new CastnetError(code, message, { ...context, reason });
  }

  /** A new stream must fit under the stream limit; refused before anything is created. */
  private checkRoomFor(playbackId: string): void {
    if (!this.streams.has(playbackId) && this.streams.size >= this.maxStreams) {
      this.refuse('streams', 'RELAY_FULL', `this relay holds its limit of ${this.maxStreams} streams`, { playbackId });
    }
  }

  get size(): number {
    return this.streams.size;
  }

  ids(): string[] {
    return [...this.streams.keys()];
  }

  has(playbackId: string): boolean {
    return this.streams.has(playbackId);
  }

  private stream(playbackId: string): LiveStream {
    let s = this.streams.get(playbackId);
    if (!s) {
      s = { descriptor: null, renditions: new Map(), timeline: new Map(), discontinuitiesBefore: [], newestSeq: -1, lastPushAt: this.now(), master: null, ended: false };
      this.streams.set(playbackId, s);
      this.emit('streamStarted', playbackId);
    }
    return s;
  }

  setDescriptor(descriptor: StreamDescriptor): void {
    const { playbackId } = descriptor;
    this.checkRoomFor(playbackId);
    if (descriptor.variants.length > this.maxRenditions) {
      this.refuse('renditions', 'RELAY_FULL', `a stream may have at most ${this.maxRenditions} renditions on this relay; the descriptor lists ${descriptor.variants.length}`, { playbackId });
    }
    const s = this.stream(playbackId);
    s.descriptor = descriptor;
    s.master = null;
    // The target duration may have changed: media playlists are rebuilt.
    this.changed(s);
    s.lastPushAt = this.now();
    this.reopen(s);
  }

  /** A push after the end means the broadcaster publishes again under the same playback id. */
  private reopen(s: LiveStream): void {
    if (!s.ended) return;
    s.ended = false;
    this.changed(s);
  }

  /**
   * Marks the stream ended: its media playlists end with EXT-X-ENDLIST and blocking reloads waiting on
   * it return at once. It stays served until it expires like any stream nobody pushes to.
   */
  end(playbackId: string): void {
    const s = this.live(playbackId);
    s.ended = true;
    this.emit('streamEnded', playbackId);
    this.changed(s);
    for (const w of s.renditions.values()) {
      w.waiters.wakeAll();
      w.ll?.waiters.wakeAll();
    }
  }

  /** The stream's descriptor (its variants), null before one is pushed or when the stream is unknown. */
  descriptorOf(playbackId: string): StreamDescriptor | null {
    return this.streams.get(playbackId)?.descriptor ?? null;
  }

  isEnded(playbackId: string): boolean {
    return this.streams.get(playbackId)?.ended ?? false;
  }

  private get keep(): number {
    return this.options.playlistSegments + this.options.extraSegments;
  }

  /**
   * Stores a pushed segment, or refuses it (RELAY_FULL for a limit, BAD_REQUEST for a sequence number far
   * ahead of the window) leaving the store as it was. A segment already behind the kept window is of no
   * use to any player and is dropped (null), as it always was; the broadcaster is not told to fail over.
   */
  putSegment(playbackId: string, rendition: string, seq: number, meta: SignedSegmentMetadata, bytes: Buffer): StoredSegment | null {
    this.checkRoomFor(playbackId);
    const existing = this.streams.get(playbackId);
    const newest = existing?.newestSeq ?? -1;
    if (existing && newest >= 0) {
      const allowed = this.maxSeqAhead + Math.floor((this.now() - existing.lastPushAt) * SEQ_AHEAD_PER_MS);
      if (seq > newest + allowed) {
        this.refuse('seq_ahead', 'BAD_REQUEST', `segment ${seq} is too far ahead of the newest segment ${newest} (at most ${allowed} ahead)`, { playbackId, rendition, seq });
      }
      // Not even lastPushAt: a stream whose window a hostile first push moved far ahead must still expire.
      if (seq < newest - this.keep + 1) return null;
      // Listed as a gap already (it came too late): the playlist does not change under its players.
      if (this.givenUp(existing.renditions.get(rendition), seq)) return null;
    }
    if (!existing?.renditions.has(rendition) && (existing?.renditions.size ?? 0) >= this.maxRenditions) {
      this.refuse('renditions', 'RELAY_FULL', `a stream may have at most ${this.maxRenditions} renditions on this relay`, { playbackId, rendition });
    }
    // Bytes this push frees: the segment it replaces, and those that leave the window when it moves.
    let freed = existing?.renditions.get(rendition)?.segments.get(seq)?.bytes.length ?? 0;
    const oldestKept = Math.max(newest, seq) - this.keep + 1;
    if (existing && seq > newest) for (const w of existing.renditions.values()) for (const [n, segment] of w.segments) if (n < oldestKept) freed += segment.bytes.length;
    if (!this.budget.reserve(bytes.length - freed)) {
      this.refuse('bytes', 'RELAY_FULL', `this relay holds its limit of ${this.budget.limit} bytes of segments`, { playbackId, rendition, seq });
    }

    const s = this.stream(playbackId);
    s.lastPushAt = this.now();
    this.reopen(s);
    let w = s.renditions.get(rendition);
    if (!w) {
      w = { segments: new Map(), firstSeq: seq, maxSeq: seq, listedTo: seq, playlist: null, waiters: new PlaylistWaiters(MAX_PART_WAITERS), ll: null, delta: null };
      s.renditions.set(rendition, w);
    }
    const segment: StoredSegment = { ...meta, seq, bytes, etag: `"${playbackId}.${rendition}.${seq}.${bytes.length}"`, headers: signedSegmentHeaders(meta) };
    const replaced = w.segments.get(seq);
    if (replaced) this.release(replaced.bytes.length);
    w.segments.set(seq, segment);
    this.held += bytes.length;
    this.budget.take(bytes.length);
    w.maxSeq = Math.max(w.maxSeq, seq);
    w.listedTo = Math.max(w.listedTo, w.maxSeq);
    w.firstSeq = Math.min(w.firstSeq, seq);
    if (!s.timeline.has(seq)) {
      s.timeline.set(seq, { duration: meta.duration, programDateTime: meta.programDateTime, discontinuity: meta.discontinuity });
      if (meta.discontinuity) s.discontinuitiesBefore.push(seq);
    }
    s.newestSeq = Math.max(s.newestSeq, seq);
    this.trim(s);
    this.giveUpLagging(s);
    // Every rendition's playlist may change (a new timeline entry can turn into a gap elsewhere).
    this.changed(s);
    s.master = null;
    w.waiters.wake(w.listedTo);
    w.ll?.complete(seq, meta.duration);
    this.emit('segmentStored', playbackId, rendition, segment);
    return segment;
  }

  /** Whether `seq` of this rendition was given up as a gap: past its newest segment, but listed. */
  private givenUp(w: RenditionWindow | undefined, seq: number): boolean {
    return w !== undefined && seq > w.maxSeq && seq <= w.listedTo;
  }

  /**
   * Renditions RENDITION_LAG_SEGMENTS or more behind the stream's newest segment list the seqs between as
   * gaps: a rendition whose transcodes fall behind (a slow or hostile transcoder) keeps a playlist that
   * moves with the stream, rather than one that stalls and then jumps past segments it never listed.
   */
  private giveUpLagging(s: LiveStream): void {
    const to = s.newestSeq - RENDITION_LAG_SEGMENTS;
    for (const w of s.renditions.values()) {
      if (to <= w.listedTo) continue;
      w.listedTo = to;
      if (w.ll) this.release(w.ll.giveUp(to));
      w.waiters.wake(w.listedTo);
    }
  }

  private trim(s: LiveStream): void {
    const oldestKept = s.newestSeq - this.keep + 1;
    for (const seq of s.timeline.keys()) if (seq < oldestKept) s.timeline.delete(seq);
    for (const w of s.renditions.values()) {
      for (const [seq, segment] of w.segments) {
        if (seq >= oldestKept) continue;
        w.segments.delete(seq);
        this.release(segment.bytes.length);
      }
      if (w.ll) this.release(w.ll.trim(oldestKept));
    }
  }

  private release(bytes: number): void {
    this.held -= bytes;
    this.budget.give(bytes);
  }

  segment(playbackId: string, rendition: string, seq: number): StoredSegment {
    const segment = this.streams.get(playbackId)?.renditions.get(rendition)?.segments.get(seq);
    if (!segment) throw new CastnetError('SEGMENT_NOT_FOUND', `no segment ${seq} of ${rendition} (not yet published, or aged out of the live window)`, { playbackId, rendition, seq });
    return segment;
  }

  private live(playbackId: string): LiveStream {
    const s = this.streams.get(playbackId);
    if (!s) throw new CastnetError('STREAM_NOT_FOUND', 'no live stream with this playback id on this relay', { playbackId });
    return s;
  }

  private window(playbackId: string, rendition: string): { s: LiveStream; w: RenditionWindow } {
    const s = this.live(playbackId);
    const w = s.renditions.get(rendition);
    if (!w) throw new CastnetError('STREAM_NOT_FOUND', `rendition ${rendition} has no segments yet`, { playbackId, rendition });
    return { s, w };
  }

  /** The playlist bytes as served; rebuilt only after a change. Hot path. `skip`: the delta update of a CMAF rendition. */
  mediaPlaylistBytes(playbackId: string, rendition: string, skip = false): Buffer {
    const { w } = this.window(playbackId, rendition);
    if (skip && w.ll) {
      w.delta ??= Buffer.from(this.llPlaylist(playbackId, rendition, true));
      return w.delta;
    }
    w.playlist ??= Buffer.from(this.mediaPlaylist(playbackId, rendition));
    return w.playlist;
  }

  multivariantPlaylistBytes(playbackId: string): Buffer {
    const s = this.live(playbackId);
    s.master ??= Buffer.from(this.multivariantPlaylist(playbackId));
    return s.master;
  }

  /**
   * Blocking playlist reload (_HLS_msn): resolves once segment `msn` is in the rendition's playlist.
   * A sequence number more than two past the newest is refused with 400, as the HLS specification says;
   * one that does not arrive within `timeoutMs` rejects with 503. An ended stream answers at once: the
   * specification forbids holding a request for a playlist with EXT-X-ENDLIST.
   */
  waitForSequence(playbackId: string, rendition: string, msn: number, timeoutMs: number): Promise<void> {
    const { s, w } = this.window(playbackId, rendition);
    if (msn <= w.listedTo || s.ended) return Promise.resolve();
    if (msn > w.listedTo + 2) return Promise.reject(new CastnetError('BAD_REQUEST', `_HLS_msn ${msn} is too far ahead of the newest segment ${w.listedTo}`, { playbackId, rendition }));
    return w.waiters.wait(msn, timeoutMs, { playbackId, rendition });
  }

  targetDurationOf(playbackId: string): number {
    return this.targetDuration(this.live(playbackId));
  }

  /**
   * From the descriptor and the segments in the window, so one long segment (or a hostile push) raises it
   * only while that segment is in the window. EXTINF rounded must not exceed it (RFC 8216 §4.3.3.1).
   */
  private targetDuration(s: LiveStream): number {
    let longest = s.descriptor ? Math.ceil(s.descriptor.targetDuration) : 0;
    for (const meta of s.timeline.values()) longest = Math.max(longest, Math.round(meta.duration));
    return Math.min(MAX_TARGET_DURATION_SECONDS, Math.max(DEFAULT_TARGET_DURATION_SECONDS, longest));
  }

  mediaPlaylist(playbackId: string, rendition: string): string {
    const { s, w } = this.window(playbackId, rendition);
    if (w.ll) return this.llPlaylist(playbackId, rendition, false);
    const seqs = [...s.timeline.keys()].filter((seq) => seq >= w.firstSeq && seq <= w.listedTo).sort((a, b) => a - b);
    const listed = seqs.slice(-this.options.playlistSegments);
    const first = listed[0] ?? w.listedTo;
    const entries: PlaylistEntry[] = listed.map((seq) => ({ seq, ...s.timeline.get(seq)!, gap: !w.segments.has(seq) }));
    return writeMediaPlaylist({
      targetDuration: this.targetDuration(s),
      canBlockReload: true,
      discontinuitySequence: s.discontinuitiesBefore.filter((d) => d < first).length,
      entries,
      ended: s.ended,
    });
  }

  /** Variants that already have segments: a player never gets a variant whose playlist would 404. */
  multivariantPlaylist(playbackId: string): string {
    const s = this.live(playbackId);
    if (!s.descriptor) throw new CastnetError('STREAM_NOT_FOUND', 'stream has not started publishing yet', { playbackId });
    const variants: Array<Variant & { averageBandwidth?: number }> = [];
    for (const v of s.descriptor.variants) {
      const w = s.renditions.get(v.name);
      if (!w || w.segments.size === 0) continue;
      let peak = 0;
      for (const segment of w.segments.values()) peak = Math.max(peak, Math.round((segment.bytes.length * 8) / segment.duration));
      variants.push({ ...v, bandwidth: Math.min(VARIANT_LIMITS.maxBandwidth, Math.max(v.bandwidth, peak)) });
    }
    if (variants.length === 0) throw new CastnetError('STREAM_NOT_FOUND', 'stream has no segments yet', { playbackId });
    return writeMultivariantPlaylist(variants);
  }

  // ---- Low-latency HLS (CMAF parts): relay/part-window.ts holds each rendition's parts and init segments. ----

  private changed(s: LiveStream): void {
    for (const w of s.renditions.values()) {
      w.playlist = null;
      w.delta = null;
    }
  }

  /**
   * Stores an init segment (EXT-X-MAP) for a CMAF rendition's segments from `seq` on; the first one fixes the
   * rendition's PART-TARGET, which may not change afterwards (players rely on it, RFC 8216bis §4.4.3.7).
   */
  putInit(playbackId: string, rendition: string, seq: number, partTarget: number, bytes: Buffer, headers: Record<string, string>): StoredInit {
    this.checkRoomFor(playbackId);
    const existing = this.streams.get(playbackId);
    if (!existing?.renditions.has(rendition) && (existing?.renditions.size ?? 0) >= this.maxRenditions) {
      this.refuse('renditions', 'RELAY_FULL', `a stream may have at most ${this.maxRenditions} renditions on this relay`, { playbackId, rendition });
    }
    const s = this.stream(playbackId);
    let w = s.renditions.get(rendition);
    if (w?.ll && w.ll.partTarget !== partTarget) throw new CastnetError('BAD_REQUEST', `PART-TARGET is ${w.ll.partTarget} s for this rendition; it may not change to ${partTarget} s`, { playbackId, rendition, seq });
    if (w && !w.ll && w.segments.size > 0) throw new CastnetError('BAD_REQUEST', 'this rendition carries MPEG-TS segments; it takes no init segment', { playbackId, rendition, seq });
    if (!w) {
      w = { segments: new Map(), firstSeq: seq, maxSeq: seq - 1, listedTo: seq - 1, playlist: null, waiters: new PlaylistWaiters(MAX_PART_WAITERS), ll: null, delta: null };
      s.renditions.set(rendition, w);
    }
    w.ll ??= new PartWindow(partTarget);
    s.lastPushAt = this.now();
    this.reopen(s);
    const init = w.ll.putInit(seq, bytes, headers, { playbackId, rendition, seq });
    this.changed(s);
    return init;
  }

  /** Stores one part of a CMAF rendition's segment as soon as it exists; its waiters wake. Null: dropped, its segment was given up as a gap. */
  putPart(playbackId: string, rendition: string, seq: number, part: number, claimed: { duration: number; independent: boolean }, bytes: Buffer, headers: Record<string, string>): StoredPart | null {
    const s = this.live(playbackId);
    const w = s.renditions.get(rendition);
    if (!w?.ll) throw new CastnetError('BAD_REQUEST', `rendition ${rendition} has no init segment: push init-<seq>.mp4 first`, { playbackId, rendition, seq });
    const open = w.ll.openSeq() ?? w.listedTo;
    if (seq < w.maxSeq || seq > Math.max(open, w.listedTo) + 2) this.refuse('seq_ahead', 'BAD_REQUEST', `part of segment ${seq} is outside the live window (newest segment ${w.maxSeq})`, { playbackId, rendition, seq });
    // Its segment was listed as a gap already (it came too late): dropped, as a segment behind the window is.
    if (this.givenUp(w, seq)) return null;
    if (!this.budget.reserve(bytes.length)) this.refuse('bytes', 'RELAY_FULL', `this relay holds its limit of ${this.budget.limit} bytes of segments`, { playbackId, rendition, seq });
    let stored: StoredPart;
    try {
      stored = w.ll.putPart(seq, part, claimed, bytes, headers, { playbackId, rendition, seq, part });
    } catch (err) {
      this.budget.give(bytes.length);
      throw err;
    }
    if (stored.bytes !== bytes) this.budget.give(bytes.length); // a repeat: the first push's bytes stay
    else this.held += bytes.length;
    s.lastPushAt = this.now();
    this.reopen(s);
    this.changed(s);
    return stored;
  }

  private llWindow(playbackId: string, rendition: string): { s: LiveStream; w: RenditionWindow; ll: PartWindow } {
    const { s, w } = this.window(playbackId, rendition);
    if (!w.ll) throw new CastnetError('SEGMENT_NOT_FOUND', `rendition ${rendition} has no parts (it is not a CMAF rendition)`, { playbackId, rendition });
    return { s, w, ll: w.ll };
  }

  init(playbackId: string, rendition: string, seq: number): StoredInit {
    const init = this.llWindow(playbackId, rendition).ll.init(seq);
    if (!init) throw new CastnetError('SEGMENT_NOT_FOUND', `no init segment ${seq} of ${rendition}`, { playbackId, rendition, seq });
    return init;
  }

  /**
   * A part, or, when it is the next one the playlist's preload hint names, waits for it (§6.2.6: the server
   * holds a request for a hinted part until it exists). Anything else missing is 404 at once.
   */
  async part(playbackId: string, rendition: string, seq: number, part: number, timeoutMs: number): Promise<StoredPart> {
    const { w, ll } = this.llWindow(playbackId, rendition);
    const found = ll.part(seq, part);
    if (found) return found;
    const open = ll.openSeq();
    const hinted = open === null ? seq === w.listedTo + 1 && part === 0 : (seq === open && part === ll.partsOf(open).length) || (seq === open + 1 && part === 0);
    const missing = () => new CastnetError('SEGMENT_NOT_FOUND', `no part ${seq}.${part} of ${rendition}`, { playbackId, rendition, seq, part });
    if (!hinted || ll.isComplete(seq) || this.isEnded(playbackId)) throw missing();
    await ll.waitFor(seq, part, timeoutMs, { playbackId, rendition, seq, part });
    const arrived = ll.part(seq, part);
    if (!arrived) throw missing();
    return arrived;
  }

  /**
   * Blocking reload with _HLS_part (RFC 8216bis §6.2.5.2): resolves once the playlist holds part `part` of
   * segment `msn`, or a later one. Refused (400) more than two segments past the newest; 503 after `timeoutMs`.
   */
  waitForPart(playbackId: string, rendition: string, msn: number, part: number, timeoutMs: number): Promise<void> {
    const { s, w, ll } = this.llWindow(playbackId, rendition);
    if (s.ended) return Promise.resolve();
    const newest = Math.max(ll.openSeq() ?? w.listedTo, w.listedTo);
    if (msn > newest + 2) return Promise.reject(new CastnetError('BAD_REQUEST', `_HLS_msn ${msn} is too far ahead of the newest segment ${newest}`, { playbackId, rendition }));
    if (part >= 1024) return Promise.reject(new CastnetError('BAD_REQUEST', '_HLS_part is too large', { playbackId, rendition }));
    return ll.waitFor(msn, part, timeoutMs, { playbackId, rendition });
  }

  /** Refuses bytes that are not fragments of the init segment that applies to `seq`. */
  checkCmafSegment(playbackId: string, rendition: string, seq: number, bytes: Buffer): void {
    const init = this.llWindow(playbackId, rendition).ll.initFor(seq);
    if (!init) throw new CastnetError('BAD_REQUEST', `no init segment is published for segment ${seq}`, { playbackId, rendition, seq });
    try {
      fragmentTiming(bytes, init.tracks);
    } catch (err) {
      throw new CastnetError('INVALID_SEGMENT', (err as Error).message, { playbackId, rendition, seq });
    }
  }

  /** Whether the rendition is a CMAF (low-latency) one. */
  /** The init segment a CMAF rendition's segment `seq` needs (the newest at or before it); none for MPEG-TS. */
  initFor(playbackId: string, rendition: string, seq: number): StoredInit | undefined {
    return this.streams.get(playbackId)?.renditions.get(rendition)?.ll?.initFor(seq);
  }

  isLowLatency(playbackId: string, rendition: string): boolean {
    return this.streams.get(playbackId)?.renditions.get(rendition)?.ll != null;
  }

  partTargetOf(playbackId: string, rendition: string): number | null {
    return this.streams.get(playbackId)?.renditions.get(rendition)?.ll?.partTarget ?? null;
  }

  private llPlaylist(playbackId: string, rendition: string, skip: boolean): string {
    const { s, w, ll } = this.llWindow(playbackId, rendition);
    const seqs = [...s.timeline.keys()].filter((seq) => seq >= w.firstSeq && seq <= w.listedTo).sort((a, b) => a - b);
    // Long enough that a delta update skips something: CAN-SKIP-UNTIL is six target durations (§4.4.3.8).
    const listed = seqs.slice(-Math.min(this.keep, Math.max(this.options.playlistSegments, SKIP_TARGET_DURATIONS + 3)));
    const first = listed[0] ?? w.listedTo + 1;
    const segments: LlSegment[] = listed.map((seq) => {
      const meta = s.timeline.get(seq)!;
      return { seq, ...meta, gap: !w.segments.has(seq), initSeq: ll.initFor(seq)?.seq ?? w.firstSeq, parts: ll.listedParts(seq) };
    });
    const openSeq = Math.max(ll.openSeq() ?? w.listedTo + 1, w.listedTo + 1);
    const reports = [...s.renditions].filter(([name]) => name !== rendition).map(([name, other]) => {
      const otherOpen = other.ll?.openSeq() ?? null;
      const parts = otherOpen === null ? 0 : other.ll!.listedParts(otherOpen).length;
      return otherOpen !== null && parts > 0 ? { rendition: name, lastMsn: otherOpen, lastPart: parts - 1 } : { rendition: name, lastMsn: Math.max(0, other.listedTo), lastPart: null };
    });
    return writeLlPlaylist({
      targetDuration: this.targetDuration(s),
      partTarget: ll.partTarget,
      discontinuitySequence: s.discontinuitiesBefore.filter((d) => d < first).length,
      segments,
      open: { seq: openSeq, initSeq: ll.initFor(openSeq)?.seq ?? w.firstSeq, parts: ll.listedParts(openSeq) },
      ended: s.ended,
      reports,
      skip,
    });
  }

  /** Drops streams idle past the limit; returns their ids. */
  expire(): string[] {
    const cutoff = this.now() - this.options.idleMs;
    const expired: string[] = [];
    for (const [id, s] of this.streams) {
      if (s.lastPushAt < cutoff) {
        this.streams.delete(id);
        for (const w of s.renditions.values()) {
          for (const segment of w.segments.values()) this.release(segment.bytes.length);
          if (w.ll) this.release(w.ll.trim(Number.MAX_SAFE_INTEGER));
        }
        expired.push(id);
        this.emit('streamExpired', id);
      }
    }
    return expired;
  }

  bytesHeld(): number {
    return this.held;
  }
}
