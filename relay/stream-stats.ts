// Per-stream audience numbers a relay reports: distinct viewer sessions in a sliding window, bytes served,
// cache hits and misses, and bytes pulled from parents. Hot path: a few Map updates per request.

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

export class StreamStats {
  private readonly streams = new Map<string, Entry>();
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(options: { windowMs: number; now?: () => number }) {
    this.windowMs = options.windowMs;
    this.now = options.now ?? Date.now;
  }

  private entry(playbackId: string): Entry {
    let e = this.streams.get(playbackId);
    if (!e) {
      e = { sessions: new Map(), bytesServed: 0, hits: 0, misses: 0, upstreamBytes: 0, lastActivity: 0 };
      this.streams.set(playbackId, e);
    }
    e.lastActivity = this.now();
    return e;
  }

  /** A viewer session is its address and user agent: players send no cookie, and URLs stay cacheable. */
  viewer(playbackId: string, session: string): void {
    this.entry(playbackId).sessions.set(session, this.now());
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
    return out;
  }
}
