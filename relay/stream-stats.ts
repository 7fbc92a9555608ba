// Per-stream audience numbers a relay reports: distinct viewer sessions in a sliding window, bytes served,
// cache hits and misses, and bytes pulled from parents. Hot path: a few Map updates per request.
// Bounded against hostile traffic (issue 11): the caller records only streams it holds or pulls, the table
// keeps at most `maxStreams` entries (the least recently active go first), each at most `maxSessions`
// sessions, and a snapshot (what heartbeats and announcements carry) lists at most `snapshotLimit` streams.

export interface StreamStatsSnapshot {
  playbackId: string;
  viewers: number;
  bytesServed: number;
  hits: number;
  misses: number;
  hitRatio: number;
  upstreamBytes: number;
}

interface Entry {
  sessions: Map<string, number>;
  bytesServed: number;
  hits: number;
  misses: number;
  upstreamBytes: number;
  lastActivity: number;
}

/** Streams with stats at once: far above what a relay holds or pulls (max streams, edge pulls). */
export const STATS_MAX_STREAMS = 1_000;
/** Streams in a snapshot, the busiest by bytes served: ~40 KB of JSON, well under the orchestrator's 256 KB body limit. */
export const STATS_SNAPSHOT_STREAMS = 256;
/** Viewer sessions counted per stream; past it the oldest are forgotten (the count saturates). */
export const STATS_MAX_SESSIONS = 10_000;
/** A session key is address and user agent; a longer user agent is cut, so keys stay small. */
const SESSION_KEY_CHARS = 200;

export interface StreamStatsOptions {
  windowMs: number;
  maxStreams?: number;
  snapshotLimit?: number;
  maxSessions?: number;
  now?: () => number;
}

export class StreamStats {
  private readonly streams = new Map<string, Entry>();
  private readonly windowMs: number;
  private readonly maxStreams: number;
  private readonly snapshotLimit: number;
  private readonly maxSessions: number;
  private readonly now: () => number;

  constructor(options: StreamStatsOptions) {
    this.windowMs = options.windowMs;
    this.maxStreams = options.maxStreams ?? STATS_MAX_STREAMS;
    this.snapshotLimit = options.snapshotLimit ?? STATS_SNAPSHOT_STREAMS;
    this.maxSessions = options.maxSessions ?? STATS_MAX_SESSIONS;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.streams.size;
  }

  private entry(playbackId: string): Entry {
    let e = this.streams.get(playbackId);
    if (!e) {
      if (this.streams.size >= this.maxStreams) this.evictLeastActive();
      e = { sessions: new Map(), bytesServed: 0, hits: 0, misses: 0, upstreamBytes: 0, lastActivity: 0 };
      this.streams.set(playbackId, e);
    }
    e.lastActivity = this.now();
    return e;
  }

  /** A scan, but only when a new stream arrives at a full table. */
  private evictLeastActive(): void {
    let oldest: string | null = null;
    let at = Number.POSITIVE_INFINITY;
    for (const [id, e] of this.streams) {
      if (e.lastActivity < at) {
        at = e.lastActivity;
        oldest = id;
      }
    }
    if (oldest !== null) this.streams.delete(oldest);
  }

  /**
   * A viewer session is its address and user agent: players send no cookie, and URLs stay cacheable.
   * Call it only for a stream this relay holds or pulls: an unknown id must leave no trace.
   */
  viewer(playbackId: string, session: string): void {
    const sessions = this.entry(playbackId).sessions;
    const key = session.length > SESSION_KEY_CHARS ? session.slice(0, SESSION_KEY_CHARS) : session;
    // Re-inserted so the Map's order is least recently seen first.
    sessions.delete(key);
    sessions.set(key, this.now());
    if (sessions.size > this.maxSessions) sessions.delete(sessions.keys().next().value!);
  }

  served(playbackId: string, bytes: number, hit: boolean): void {
    const e = this.entry(playbackId);
    e.bytesServed += bytes;
    if (hit) e.hits++;
    else e.misses++;
  }

  upstream(playbackId: string, bytes: number): void {
    this.entry(playbackId).upstreamBytes += bytes;
  }

  /** The busiest streams (by bytes served), at most `snapshotLimit`; drops streams long quiet. */
  snapshot(): StreamStatsSnapshot[] {
    const cutoff = this.now() - this.windowMs;
    const out: StreamStatsSnapshot[] = [];
    for (const [playbackId, e] of this.streams) {
      for (const [session, at] of e.sessions) if (at < cutoff) e.sessions.delete(session);
      if (e.sessions.size === 0 && e.lastActivity < cutoff - this.windowMs * 10) {
        this.streams.delete(playbackId);
        continue;
      }
      const lookups = e.hits + e.misses;
      out.push({ playbackId, viewers: e.sessions.size, bytesServed: e.bytesServed, hits: e.hits, misses: e.misses, hitRatio: lookups ? e.hits / lookups : 0, upstreamBytes: e.upstreamBytes });
    }
    if (out.length <= this.snapshotLimit) return out;
    return out.sort((a, b) => b.bytesServed - a.bytesServed || b.viewers - a.viewers).slice(0, this.snapshotLimit);
  }
}
