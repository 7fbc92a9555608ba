// The relay's live store: per stream, a bounded window of segments for each rendition, the timeline of
// segment metadata that playlists are built from, the end of a stream (EXT-X-ENDLIST), and expiry of
// streams nobody pushes to any more.
// Hot path: a lookup per segment or playlist request; segment bytes are stored once and served as is.

import { EventEmitter } from 'node:events';
import { writeMediaPlaylist, writeMultivariantPlaylist, type PlaylistEntry } from '../media/hls-playlist.ts';
import { CastnetError } from '../protocol/errors.ts';
import { PlaylistWaiters } from './playlist-waiters.ts';
import type { SegmentMetadata } from '../protocol/segment-metadata.ts';
import type { StreamDescriptor, Variant } from '../protocol/stream-record.ts';

export interface StoredSegment extends SegmentMetadata {
  seq: number;
  bytes: Buffer;
  /** Strong validator, fixed at arrival: segments are immutable, so no per-request hashing. */
  etag: string;
}

interface RenditionWindow {
  segments: Map<number, StoredSegment>;
  firstSeq: number;
  maxSeq: number;
  peakBitrate: number;
  /** The playlist as served, built once per change rather than per request. */
  playlist: Buffer | null;
  /** Blocking reloads waiting for a sequence number. */
  waiters: PlaylistWaiters;
}

interface LiveStream {
  descriptor: StreamDescriptor | null;
  renditions: Map<string, RenditionWindow>;
  /** Metadata of every segment seq in the window, from whichever rendition arrived first. */
  timeline: Map<number, SegmentMetadata>;
  discontinuitiesBefore: number[];
  targetDuration: number;
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
  now?: () => number;
}

export interface StreamStoreEvents {
  streamStarted: [string];
  streamEnded: [string];
  streamExpired: [string];
}

export class StreamStore extends EventEmitter<StreamStoreEvents> {
  private readonly streams = new Map<string, LiveStream>();
  private readonly options: StreamStoreOptions;
  private readonly now: () => number;

  constructor(options: StreamStoreOptions) {
    super();
    this.options = options;
    this.now = options.now ?? Date.now;
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
      s = { descriptor: null, renditions: new Map(), timeline: new Map(), discontinuitiesBefore: [], targetDuration: 2, lastPushAt: this.now(), master: null, ended: false };
      this.streams.set(playbackId, s);
      this.emit('streamStarted', playbackId);
    }
    return s;
  }

  setDescriptor(descriptor: StreamDescriptor): void {
    const s = this.stream(descriptor.playbackId);
    s.descriptor = descriptor;
    s.master = null;
    s.targetDuration = Math.max(s.targetDuration, Math.ceil(descriptor.targetDuration));
    s.lastPushAt = this.now();
    this.reopen(s);
  }

  /** A push after the end means the broadcaster publishes again under the same playback id. */
  private reopen(s: LiveStream): void {
    if (!s.ended) return;
    s.ended = false;
    for (const w of s.renditions.values()) w.playlist = null;
  }

  /**
   * Marks the stream ended: its media playlists end with EXT-X-ENDLIST and blocking reloads waiting on
   * it return at once. It stays served until it expires like any stream nobody pushes to.
   */
  end(playbackId: string): void {
    const s = this.live(playbackId);
    s.ended = true;
    this.emit('streamEnded', playbackId);
    for (const w of s.renditions.values()) {
      w.playlist = null;
      w.waiters.wakeAll();
    }
  }

  isEnded(playbackId: string): boolean {
    return this.streams.get(playbackId)?.ended ?? false;
  }

  putSegment(playbackId: string, rendition: string, seq: number, meta: SegmentMetadata, bytes: Buffer): StoredSegment {
    const s = this.stream(playbackId);
    s.lastPushAt = this.now();
    this.reopen(s);
    let w = s.renditions.get(rendition);
    if (!w) {
      w = { segments: new Map(), firstSeq: seq, maxSeq: seq, peakBitrate: 0, playlist: null, waiters: new PlaylistWaiters() };
      s.renditions.set(rendition, w);
    }
    const segment: StoredSegment = { ...meta, seq, bytes, etag: `"${playbackId}.${rendition}.${seq}.${bytes.length}"` };
    w.segments.set(seq, segment);
    w.maxSeq = Math.max(w.maxSeq, seq);
    w.firstSeq = Math.min(w.firstSeq, seq);
    w.peakBitrate = Math.max(w.peakBitrate, Math.round((bytes.length * 8) / meta.duration));
    if (!s.timeline.has(seq)) {
      s.timeline.set(seq, meta);
      if (meta.discontinuity) s.discontinuitiesBefore.push(seq);
    }
    // EXTINF rounded must not exceed the target duration, and the target duration must never change.
    s.targetDuration = Math.max(s.targetDuration, Math.round(meta.duration));
    this.trim(s);
    // Every rendition's playlist may change (a new timeline entry can turn into a gap elsewhere).
    for (const other of s.renditions.values()) other.playlist = null;
    s.master = null;
    w.waiters.wake(w.maxSeq);
    return segment;
  }

  private trim(s: LiveStream): void {
    const keep = this.options.playlistSegments + this.options.extraSegments;
    let newest = -1;
    for (const seq of s.timeline.keys()) newest = Math.max(newest, seq);
    const oldestKept = newest - keep + 1;
    for (const seq of s.timeline.keys()) if (seq < oldestKept) s.timeline.delete(seq);
    for (const w of s.renditions.values()) {
      for (const seq of w.segments.keys()) if (seq < oldestKept) w.segments.delete(seq);
    }
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

  /** The playlist bytes as served; rebuilt only after a change. Hot path. */
  mediaPlaylistBytes(playbackId: string, rendition: string): Buffer {
    const { w } = this.window(playbackId, rendition);
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
    if (msn <= w.maxSeq || s.ended) return Promise.resolve();
    if (msn > w.maxSeq + 2) return Promise.reject(new CastnetError('BAD_REQUEST', `_HLS_msn ${msn} is too far ahead of the newest segment ${w.maxSeq}`, { playbackId, rendition }));
    return w.waiters.wait(msn, timeoutMs, { playbackId, rendition });
  }

  targetDurationOf(playbackId: string): number {
    return this.live(playbackId).targetDuration;
  }

  mediaPlaylist(playbackId: string, rendition: string): string {
    const { s, w } = this.window(playbackId, rendition);
    const seqs = [...s.timeline.keys()].filter((seq) => seq >= w.firstSeq && seq <= w.maxSeq).sort((a, b) => a - b);
    const listed = seqs.slice(-this.options.playlistSegments);
    const first = listed[0] ?? w.maxSeq;
    const entries: PlaylistEntry[] = listed.map((seq) => ({ seq, ...s.timeline.get(seq)!, gap: !w.segments.has(seq) }));
    return writeMediaPlaylist({
      targetDuration: s.targetDuration,
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
      variants.push({ ...v, bandwidth: Math.max(v.bandwidth, w.peakBitrate) });
    }
    if (variants.length === 0) throw new CastnetError('STREAM_NOT_FOUND', 'stream has no segments yet', { playbackId });
    return writeMultivariantPlaylist(variants);
  }

  /** Drops streams idle past the limit; returns their ids. */
  expire(): string[] {
    const cutoff = this.now() - this.options.idleMs;
    const expired: string[] = [];
    for (const [id, s] of this.streams) {
      if (s.lastPushAt < cutoff) {
        this.streams.delete(id);
        expired.push(id);
        this.emit('streamExpired', id);
      }
    }
    return expired;
  }

  bytesHeld(): number {
    let total = 0;
    for (const s of this.streams.values()) for (const w of s.renditions.values()) for (const seg of w.segments.values()) total += seg.bytes.length;
    return total;
  }
}
