// The byte-bounded cache of segments an edge relay pulled from its parent. Segments that fell more than a
// few places behind their live window are dropped as the window moves (as the origin drops them), so a
// steady audience holds steady memory; over budget, it evicts the least recently used segments that are
// no longer in any live window first, then the least recently used.
// Its bytes count against a ByteBudget it may share with the pushed segments of the stream store; pushed
// bytes come first, so under pressure this cache evicts to make room for them.
// Hot path: a Map lookup per segment request; bytes are stored once and served as they are.

import { ByteBudget } from './byte-budget.ts';

export interface CachedSegment {
  bytes: Buffer;
  etag: string;
  /** Cache key of the playlist window this segment belongs to (`<playbackId>/<rendition>`). */
  window: string;
  seq: number;
  /** The metadata and signature headers served with it (checked when it was pulled). */
  headers: Record<string, string>;
}

export class SegmentCache {
  // Map iteration order is insertion order: re-inserting on access makes it an LRU list.
  private readonly entries = new Map<string, CachedSegment>();
  private readonly oldestLive = new Map<string, number>();
  private readonly byWindow = new Map<string, Map<number, string>>();
  /** Segments kept behind a live window for players that fetch late (the origin keeps as many). */
  readonly behindWindow: number;
  private bytes = 0;
  readonly budget: ByteBudget;
  evictions = 0;

  /** `budget`: a byte count of its own, or a budget shared with the stream store. */
  constructor(budget: number | ByteBudget, behindWindow = 4) {
    this.budget = typeof budget === 'number' ? new ByteBudget(budget) : budget;
    this.behindWindow = behindWindow;
    this.budget.onPressure((needed) => this.evict(this.budget.used - needed));
  }

  get size(): number {
    return this.entries.size;
  }

  get bytesHeld(): number {
    return this.bytes;
  }

  get(key: string): CachedSegment | undefined {
    const entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  set(key: string, entry: CachedSegment): void {
    const old = this.entries.get(key);
    if (old) {
      this.bytes -= old.bytes.length;
      this.budget.give(old.bytes.length);
      this.entries.delete(key);
    }
    this.entries.set(key, entry);
    this.bytes += entry.bytes.length;
    this.budget.take(entry.bytes.length);
    let seqs = this.byWindow.get(entry.window);
    if (!seqs) this.byWindow.set(entry.window, (seqs = new Map()));
    seqs.set(entry.seq, key);
    this.evict();
  }

  /** The oldest sequence number still listed in a window's live playlist; older segments are evicted first. */
  setLiveWindow(window: string, oldestSeq: number): void {
    this.oldestLive.set(window, oldestSeq);
    const seqs = this.byWindow.get(window);
    if (!seqs) return;
    for (const [seq, key] of seqs) {
      if (seq >= oldestSeq - this.behindWindow) continue;
      const entry = this.entries.get(key);
      if (entry) this.remove(key, entry);
      seqs.delete(seq);
    }
  }

  /** Drops everything of a stream (it ended, or nobody watched it for the grace period). */
  dropStream(playbackId: string): void {
    for (const [key, entry] of this.entries) {
      if (entry.window.startsWith(`${playbackId}/`)) {
        this.entries.delete(key);
        this.bytes -= entry.bytes.length;
        this.budget.give(entry.bytes.length);
      }
    }
    for (const window of this.oldestLive.keys()) if (window.startsWith(`${playbackId}/`)) this.oldestLive.delete(window);
    for (const window of this.byWindow.keys()) if (window.startsWith(`${playbackId}/`)) this.byWindow.delete(window);
  }

  /** Drops every stream not in `live`: nothing is kept for streams nobody watches any more. */
  retainStreams(live: ReadonlySet<string>): void {
    const streams = new Set([...this.entries.values()].map((e) => e.window.slice(0, e.window.indexOf('/'))));
    for (const id of streams) if (!live.has(id)) this.dropStream(id);
  }

  /** Evicts until the budget holds at most `target` bytes (a push asking for room sets it lower). */
  private evict(target = this.budget.limit): void {
    if (this.budget.used <= target) return;
    for (const [key, entry] of this.entries) {
      if (this.budget.used <= target) return;
      if (entry.seq < (this.oldestLive.get(entry.window) ?? -1)) this.remove(key, entry);
    }
    for (const [key, entry] of this.entries) {
      if (this.budget.used <= target) return;
      this.remove(key, entry);
    }
  }

  private remove(key: string, entry: CachedSegment): void {
    this.entries.delete(key);
    this.byWindow.get(entry.window)?.delete(entry.seq);
    this.bytes -= entry.bytes.length;
    this.budget.give(entry.bytes.length);
    this.evictions++;
  }
}
