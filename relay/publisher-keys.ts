// Which key publishes each stream, as this relay learns it: from the orchestrator's directory (the
// publisher key a stream's owner bound to its playback id), or, on a relay with no directory (no
// orchestrator: a standalone origin, an edge under parents its operator configured), from the first key
// that signed for the stream here, for as long as the stream lives. The origin checks every push against
// it and an edge every segment its parents send. Answers are reused for a while; a stream's descriptor
// asks afresh (a playback id may pass to another owner once its old one let it go). Hot path: a map
// lookup per push or pull once known.

import { CastnetError } from '../protocol/errors.ts';
import { SingleFlight } from './single-flight.ts';

/** The publisher key of a stream in the directory (lower case), null when the directory names none; rejects when it cannot be asked. */
export type PublisherLookup = (playbackId: string) => Promise<string | null>;

export interface PublisherKeysOptions {
  /** The directory; absent: the first key that signs for a stream here binds it. */
  lookup?: PublisherLookup;
  /** How long a directory answer is reused. */
  cacheMs?: number;
  /** How long "no such stream" is reused: pushes for made-up ids must not become a lookup each. */
  missCacheMs?: number;
  now?: () => number;
}

const CACHE_MS = 60_000;
const MISS_CACHE_MS = 1_000;
/** Bound on remembered streams; past it the cache starts over (lookups are cheap, memory is not). */
const MAX_STREAMS = 10_000;

export class PublisherKeys {
  private readonly keys = new Map<string, { publisher: string | null; at: number }>();
  private readonly flights = new SingleFlight<string | null>();
  private readonly options: PublisherKeysOptions;
  private readonly now: () => number;

  constructor(options: PublisherKeysOptions = {}) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Whether keys come from the directory (else: first use binds). */
  get fromDirectory(): boolean {
    return this.options.lookup !== undefined;
  }

  /**
   * The stream's publisher key. From the directory: its answer, refused with `publisher_unknown` when it
   * names none. Without one: the key already bound, else `signer` (the key that signed this push or
   * answer), which binds from now on. `fresh`: ask the directory even if an answer is cached.
   */
  async publisherOf(playbackId: string, signer: string | null, options: { fresh?: boolean } = {}): Promise<string> {
    const { lookup } = this.options;
    if (!lookup) {
      const bound = this.keys.get(playbackId)?.publisher;
      if (bound) return bound;
      if (!signer) throw unknown(playbackId, 'no key publishes this stream here yet');
      this.remember(playbackId, signer.toLowerCase());
      return signer.toLowerCase();
    }
    const hit = this.keys.get(playbackId);
    const now = this.now();
    let publisher: string | null;
    if (!options.fresh && hit && now - hit.at <= (hit.publisher ? (this.options.cacheMs ?? CACHE_MS) : (this.options.missCacheMs ?? MISS_CACHE_MS))) {
      publisher = hit.publisher;
    } else {
      publisher = await this.flights.run(playbackId, async () => {
        let found: string | null;
        try {
          found = await lookup(playbackId);
        } catch (err) {
          throw new CastnetError('UPSTREAM_FAILED', `could not look up the publisher key of this stream in the directory: ${(err as Error).message}`, { playbackId, reason: 'directory_unavailable' }, { cause: err });
        }
        this.remember(playbackId, found?.toLowerCase() ?? null);
        return found?.toLowerCase() ?? null;
      });
    }
    if (!publisher) throw unknown(playbackId, "the orchestrator's directory binds no publisher key to this playback id (its broadcaster has no live session naming one)");
    return publisher;
  }

  /** The stream left this relay: a later one under its id is learned again. */
  forget(playbackId: string): void {
    this.keys.delete(playbackId);
  }

  private remember(playbackId: string, publisher: string | null): void {
    if (this.keys.size >= MAX_STREAMS && !this.keys.has(playbackId)) this.keys.clear();
    this.keys.set(playbackId, { publisher, at: this.now() });
  }
}

function unknown(playbackId: string, message: string): CastnetError {
  return new CastnetError('FORBIDDEN', message, { playbackId, reason: 'publisher_unknown' });
}
