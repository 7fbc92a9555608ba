// Where an edge relay pulls a stream it does not hold from: the configured parents, then the relays a
// directory lookup names (the stream's origin and relays announcing they hold it), cached briefly.
// Runs on an edge's playlist, master and segment misses; a cache hit costs one map lookup.

import { CastnetError } from '../protocol/errors.ts';
import { SingleFlight } from './single-flight.ts';

/** Relay URLs that hold a stream, best first; [] when the directory knows no such stream; rejects when it cannot be asked. */
export type ParentLookup = (playbackId: string) => Promise<string[]>;

export interface ParentDirectoryOptions {
  /** Parents configured by hand, best first; always tried before the looked-up ones. */
  staticParents: ReadonlyArray<string>;
  /** Absent: only the static parents. */
  lookup?: ParentLookup;
  /** This relay's own URL, never its own parent. */
  self: () => string;
  /** How long a lookup's answer is reused. */
  cacheMs?: number;
  now?: () => number;
}

const CACHE_MS = 5_000;
// Requests for made-up ids must not grow the cache without bound.
const MAX_CACHED_STREAMS = 10_000;

export class ParentDirectory {
  private readonly options: ParentDirectoryOptions;
  private readonly now: () => number;
  private readonly cache = new Map<string, { at: number; urls: string[] }>();
  private readonly flights = new SingleFlight<string[]>();

  constructor(options: ParentDirectoryOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Whether any parent can ever be found: a relay without parents is an origin only. */
  get hasParents(): boolean {
    return this.options.staticParents.length > 0 || this.options.lookup !== undefined;
  }

  /**
   * The parents to try for a stream, best first. A failed lookup is not cached; it rejects with 502
   * UPSTREAM_FAILED unless static parents are left to try.
   */
  async parentsFor(playbackId: string): Promise<string[]> {
    const parents = [...this.options.staticParents];
    const { lookup } = this.options;
    if (!lookup) return parents;
    let found: string[];
    try {
      found = await this.lookedUp(playbackId, lookup);
    } catch (err) {
      if (parents.length > 0) return parents;
      throw err instanceof CastnetError && err.code === 'UPSTREAM_FAILED'
        ? err
        : new CastnetError('UPSTREAM_FAILED', `could not look up the parents of this stream: ${(err as Error).message}`, { playbackId }, { cause: err });
    }
    const self = this.options.self();
    for (const url of found) if (url !== self && !parents.includes(url)) parents.push(url);
    return parents;
  }

  private async lookedUp(playbackId: string, lookup: ParentLookup): Promise<string[]> {
    const hit = this.cache.get(playbackId);
    if (hit && this.now() - hit.at <= (this.options.cacheMs ?? CACHE_MS)) return hit.urls;
    return this.flights.run(playbackId, async () => {
      const urls = await lookup(playbackId);
      if (this.cache.size >= MAX_CACHED_STREAMS) this.cache.clear();
      this.cache.set(playbackId, { at: this.now(), urls });
      return urls;
    });
  }
}
