// The byte-bounded cache of segments an edge relay pulled from its parent. Over budget, it evicts the
// least recently used segments that are no longer in any live window first, then the least recently used.
// Hot path: a Map lookup per segment request; bytes are stored once and served as they are.

export interface CachedSegment {
  bytes: Buffer;
  etag: string;
  /** Cache key of the playlist window this segment belongs to (`<playbackId>/<rendition>`). */
  window: string;
  seq: number;
}

export class SegmentCache {
  // Map iteration order is insertion order: re-inserting on access makes it an LRU list.
  private readonly entries = new Map<string, CachedSegment>();
  private readonly oldestLive = new Map<string, number>();
  private bytes = 0;
  readonly budget: number;
  evictions = 0;

  constructor(budgetBytes: number) {
    this.budget = budgetBytes;
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
      this.entries.delete(key);
    }
    this.entries.set(key, entry);
    this.bytes += entry.bytes.length;
    this.evict();
  }

  /** The oldest sequence number still listed in a window's live playlist; older segments are evicted first. */
  setLiveWindow(window: string, oldestSeq: number): void {
    this.oldestLive.set(window, oldestSeq);
  }

  /** Drops everything of a stream (it ended, or nobody watched it for the grace period). */
  dropStream(playbackId: string): void {
    for (const [key, entry] of this.entries) {
      if (entry.window.startsWith(`${playbackId}/`)) {
        this.entries.delete(key);
        this.bytes -= entry.bytes.length;
      }
    }
    for (const window of this.oldestLive.keys()) if (window.startsWith(`${playbackId}/`)) this.oldestLive.delete(window);
  }

  /** Drops every stream not in `live`: nothing is kept for streams nobody watches any more. */
  retainStreams(live: ReadonlySet<string>): void {
    const streams = new Set([...this.entries.values()].map((e) => e.window.slice(0, e.window.indexOf('/'))));
    for (const id of streams) if (!live.has(id)) this.dropStream(id);
  }

  private evict(): void {
    if (this.bytes <= this.budget) return;
    for (const [key, entry] of this.entries) {
      if (this.bytes <= this.budget) return;
      if (entry.seq < (this.oldestLive.get(entry.window) ?? -1)) this.remove(key, entry);
    }
    for (const [key, entry] of this.entries) {
      if (this.bytes <= this.budget) return;
      this.remove(key, entry);
    }
  }

  private remove(key: string, entry: CachedSegment): void {
    this.entries.delete(key);
    this.bytes -= entry.bytes.length;
    this.evictions++;
  }
}
