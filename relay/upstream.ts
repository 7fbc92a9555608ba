// The edge side of a relay: streams it does not hold are pulled from a parent relay (the origin or
// another edge) and cached. Playlists follow the parent with blocking reloads (_HLS_msn), so a new
// segment reaches the edge as soon as the parent has it and is prefetched once; segment misses go
// upstream once however many viewers ask (single flight). Failures are never cached. A parent playlist
// that ended (EXT-X-ENDLIST) is copied as is, so viewers of the edge see the end too. Parents' bodies are
// read up to a limit (a playlist, a segment, an error), so a parent cannot fill the edge's memory.
// Low-latency (CMAF) renditions are followed part by part: the blocking reload names the parent's preload
// hint (_HLS_msn/_HLS_part), the hinted part is requested at once (the parent holds it until it exists), so
// a part reaches the edge as soon as the parent has it; the parent's playlist is read (media/ll-playlist.ts)
// and re-served with this edge's own blocking reload and delta updates. Parts and init segments are checked
// against the publisher's key as segments are, pulled once however many viewers ask, and kept while their
// segment is in the window (they never change). Hot path: per part and per playlist update of every followed rendition.

import { lastMediaSequence } from '../media/hls-playlist.ts';
import { readLimited } from '../http/read-limited.ts';
import { MAX_TARGET_DURATION_SECONDS } from '../protocol/stream-record.ts';
import { CastnetError } from '../protocol/errors.ts';
import { failureFromResponse } from '../protocol/http-failure.ts';
import type { Logger } from '../observability/logger.ts';
import { SegmentCache, type CachedSegment } from './segment-cache.ts';
import { PlaylistWaiters } from './playlist-waiters.ts';
import { SingleFlight } from './single-flight.ts';
import { RECEIPT_ANSWER_HEADER } from '../protocol/delivery-receipt.ts';
import { parseLlPlaylist, writeLlPlaylist, type ParsedLlPlaylist } from '../media/ll-playlist.ts';
import { position } from './part-window.ts';
import { isWebp, type ThumbnailFormat } from './thumbnailer.ts';

export interface UpstreamOptions {
  /** Parent relay URLs for a stream, best first; rejects when they cannot be learned (a 502 to the viewer). */
  parentsFor: (playbackId: string) => Promise<string[]>;
  /** HTTP to the parents; the global fetch unless a test brings its own. */
  fetch?: typeof fetch;
  cache: SegmentCache;
  /** A stream nobody asked for this long is dropped from the edge. */
  idleMs: number;
  logger: Logger;
  onUpstreamRequest?: (kind: 'playlist' | 'segment' | 'master' | 'thumbnail' | 'part' | 'init', bytes: number, playbackId: string) => void;
  /** A segment pulled from `parent` (paid delivery: the edge signs receipts for it, relay/delivery-earnings.ts). */
  onSegmentPulled?: (at: { playbackId: string; rendition: string; seq: number }, parent: string, bytes: number) => void;
  /**
   * Paid delivery: a receipt due for `parent` rides on the segment pulled from it (`url` with the
   * castnet-receipt parameter), and the parent's answer header is reported back (delivery-earnings.ts).
   */
  receipts?: { attach: (playbackId: string, parent: string, url: string) => string; answered: (playbackId: string, parent: string, header: string | null) => void };
  /** The most a parent's playlist (media or multivariant) may hold. */
  maxPlaylistBytes?: number;
  /** The most a parent's segment may hold. */
  maxSegmentBytes?: number;
  /**
   * Checks a segment a parent sent (its signature, content-check.ts) and answers the headers to serve it
   * with; a rejection with `context.from === 'parent'` means the parent sent content that is not the
   * publisher's: the next parent is asked, and this one is tried last for a while.
   */
  verifySegment: (at: { playbackId: string; rendition: string; seq: number }, headers: Headers, bytes: Buffer) => Promise<Record<string, string>>;
  /** Checks a low-latency part a parent sent (content-check.ts's pulledPart); refusals as for segments. */
  verifyPart?: (at: { playbackId: string; rendition: string; seq: number }, part: number, headers: Headers, bytes: Buffer) => Promise<Record<string, string>>;
  /** Checks an init segment a parent sent (content-check.ts's pulledInit). */
  verifyInit?: (at: { playbackId: string; rendition: string; seq: number }, headers: Headers, bytes: Buffer) => Promise<Record<string, string>>;
  /** A parent's playlist jumped too far ahead and was refused. */
  onPlaylistRefused?: (playbackId: string) => void;
  /** Signed playback: a viewer token of the stream to present to parents (relay/playback-guard.ts); null: none held. */
  tokenFor?: (playbackId: string) => string | null;
}

/** A live playlist of a few segments is a few KB; far more is a broken or hostile parent. */
export const UPSTREAM_PLAYLIST_BYTES = 1024 * 1024;
/** The largest segment a relay accepts in a push (push-routes' body limit), so the largest a parent serves. */
export const UPSTREAM_SEGMENT_BYTES = 64 * 1024 * 1024;

interface FollowedPlaylist {
  playbackId: string;
  /** The parent it came from: dropped when that parent is found sending content its publisher did not sign. */
  parent: string;
  text: Buffer;
  first: number;
  last: number;
  targetDuration: number;
  /** The parent's playlist has EXT-X-ENDLIST. */
  ended: boolean;
  lastRequestedAt: number;
  following: boolean;
  /**
   * Waiters on a sequence number (MPEG-TS renditions) or on a part position (part-window.ts's position():
   * low-latency renditions, where `ll` is set).
   */
  waiters: PlaylistWaiters;
  ll: FollowedLl | null;
}

/** A low-latency playlist as read from the parent and as this edge serves it. */
interface FollowedLl {
  parsed: ParsedLlPlaylist;
  full: Buffer;
  /** The delta update (_HLS_skip=YES), written on the first request for it. */
  delta: Buffer | null;
  /** The newest position the playlist lists: its open segment's last part, or its last complete segment. */
  newest: number;
}

/** Newest (segment, part) position an LL playlist lists; an ended one lists everything. */
function llNewest(parsed: ParsedLlPlaylist): number {
  if (parsed.ended) return Number.MAX_SAFE_INTEGER;
  if (parsed.open && parsed.open.parts.length > 0) return position(parsed.open.seq, parsed.open.parts.length - 1);
  const last = parsed.segments.at(-1);
  return last ? position(last.seq, 'complete') : -1;
}

const MASTER_TTL_MS = 2_000;
/** A parent's thumbnail is asked for again after this long (it is refreshed every ~10 s at the origin). */
const THUMBNAIL_TTL_MS = 5_000;
/** A thumbnail is a small JPEG; more is a broken or hostile parent. */
export const UPSTREAM_THUMBNAIL_BYTES = 1024 * 1024;
/** A policy document with its four keys is about a kilobyte. */
const MAX_POLICY_BYTES = 16 * 1024;
/** How long a parent that sent content its publisher did not sign is asked only after every other. */
const DISTRUST_MS = 60_000;
/**
 * How far a parent's playlist may move past the one followed, as the origin bounds a push (stream-store.ts):
 * playlists are not signed, so a parent listing a far-future sequence is refused rather than followed.
 */
export const UPSTREAM_MAX_SEQ_JUMP = 100;
/** New segments prefetched per playlist update at most: the newest ones, which viewers ask for next. */
const MAX_PREFETCH = 4;

export class Upstream {
  private readonly playlists = new Map<string, FollowedPlaylist>();
  private readonly masters = new Map<string, { text: Buffer; at: number; lastRequestedAt: number }>();
  private readonly thumbnails = new Map<string, { bytes: Buffer; at: number; lastRequestedAt: number }>();
  private readonly flights = new SingleFlight<unknown>();
  private readonly options: UpstreamOptions;
  private readonly fetch: typeof fetch;
  private readonly maxPlaylistBytes: number;
  private readonly maxSegmentBytes: number;
  private closed = false;
  private readonly sweeper: NodeJS.Timeout;
  /** Parents that sent content not signed by its publisher → until when they are asked last. */
  private readonly distrusted = new Map<string, number>();

  constructor(options: UpstreamOptions) {
    this.options = options;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.maxPlaylistBytes = options.maxPlaylistBytes ?? UPSTREAM_PLAYLIST_BYTES;
    this.maxSegmentBytes = options.maxSegmentBytes ?? UPSTREAM_SEGMENT_BYTES;
    this.sweeper = setInterval(() => this.sweep(), Math.min(5_000, options.idleMs));
    this.sweeper.unref();
  }

  /** Parts and init segments kept per path, with the windows they are evicted with. */
  private partWindow(playbackId: string, rendition: string): string {
    return `${this.key(playbackId, rendition)}#parts`;
  }

  /** Whether a playlist of this stream was pulled from a parent (the stream exists upstream). */
  follows(playbackId: string): boolean {
    for (const p of this.playlists.values()) if (p.playbackId === playbackId) return true;
    return this.masters.has(playbackId);
  }

    get streams(): number {
    return new Set([...this.playlists.values()].map((p) => p.playbackId)).size;
  }

  /**
   * GET from the first parent that answers, its body read up to `maxBytes`; 404 and other answers are final,
   * network failures and oversized bodies try the next.
   */
  private async fetchFromParent(playbackId: string, path: string, timeoutMs: number, maxBytes: number, accept?: (body: Buffer, headers: Headers) => Promise<Record<string, string>>, withReceipt = false): Promise<{ body: Buffer; etag: string | null; headers: Record<string, string>; parent: string }> {
    const listed = await this.options.parentsFor(playbackId);
    if (listed.length === 0) throw new CastnetError('STREAM_NOT_FOUND', 'no live stream with this playback id on this relay or its parents', { playbackId });
    const now = Date.now();
    for (const [parent, until] of this.distrusted) if (until <= now) this.distrusted.delete(parent);
    const parents = this.distrusted.size ? [...listed.filter((p) => !this.distrusted.has(p)), ...listed.filter((p) => this.distrusted.has(p))] : listed;
    let lastError: CastnetError | null = null;
    for (const parent of parents) {
      try {
        const token = this.options.tokenFor?.(playbackId);
        const url = `${parent}${path}`;
        const receipts = withReceipt ? this.options.receipts : undefined;
        const sent = receipts ? receipts.attach(playbackId, parent, url) : url;
        let res: Response;
        try {
          res = await this.fetch(sent, { signal: AbortSignal.timeout(timeoutMs), ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
        } catch (err) {
          if (sent !== url) receipts!.answered(playbackId, parent, null);
          throw err;
        }
        if (sent !== url) receipts!.answered(playbackId, parent, res.headers.get(RECEIPT_ANSWER_HEADER));
        if (res.ok) {
          const body = await readLimited(res, maxBytes, { playbackId, parent });
          let headers: Record<string, string> = {};
          if (accept) {
            try {
              headers = await accept(body, res.headers);
            } catch (err) {
              if (!(err instanceof CastnetError) || err.context.from !== 'parent') throw err;
              this.distrust(parent);
              this.options.logger.warn({ playbackId, parent, path, reason: err.context.reason }, "a parent sent content its publisher did not sign: asking the next parent");
              lastError = new CastnetError('UPSTREAM_FAILED', `parent ${parent} sent ${path} without its publisher's signature (${String(err.context.reason)})`, { playbackId, parent, reason: err.context.reason }, { cause: err });
              continue;
            }
          }
          return { body, etag: res.headers.get('etag'), headers, parent };
        }
        // Decoded where every node's answers are (protocol/http-failure.ts); a bare 404 means no such stream.
        const failure = await failureFromResponse(res, `parent ${parent} answered`, parent);
        const code = failure.code === 'UPSTREAM_FAILED' && res.status === 404 ? 'STREAM_NOT_FOUND' : failure.code;
        const reason = failure.context.reason;
        throw new CastnetError(code, failure.message, { playbackId, parent, upstreamStatus: res.status, ...(reason ? { reason } : {}) }, { cause: failure });
      } catch (err) {
        if (err instanceof CastnetError && err.code === 'PAYLOAD_TOO_LARGE') {
          lastError = new CastnetError('UPSTREAM_FAILED', `parent ${parent} answered ${path} with ${err.message}`, { playbackId, parent }, { cause: err });
          continue;
        }
        if (err instanceof CastnetError) throw err;
        const timedOut = (err as Error).name === 'TimeoutError';
        lastError = new CastnetError(timedOut ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_FAILED', `parent ${parent} ${timedOut ? `did not answer within ${timeoutMs} ms` : `is unreachable: ${((err as Error).cause as Error)?.message ?? (err as Error).message}`}`, { playbackId, parent }, { cause: err });
      }
    }
    throw lastError!;
  }

  /** A parent sent content its publisher did not sign: asked last for a while, and what it listed is forgotten. */
  private distrust(parent: string): void {
    this.distrusted.set(parent, Date.now() + DISTRUST_MS);
    // What it listed may be invented (a far-future sequence): the next playlist from any parent replaces it,
    // whatever it lists; waiters stay on the same object.
    for (const p of this.playlists.values()) {
      if (p.parent !== parent) continue;
      p.last = -1;
      if (p.ll) p.ll.newest = -1;
    }
  }

  /** The parent's playback policy document of a stream (null: its publisher signed none); checked by the caller (playback-guard.ts). */
  async policy(playbackId: string): Promise<unknown> {
    const { body } = await this.fetchFromParent(playbackId, `/hls/${playbackId}/policy.json`, 5_000, MAX_POLICY_BYTES);
    try {
      return (JSON.parse(body.toString('utf8')) as { document?: unknown }).document ?? null;
    } catch {
      throw new CastnetError('UPSTREAM_FAILED', 'the parent answered its playback policy with something that is not JSON', { playbackId });
    }
  }

  async master(playbackId: string): Promise<Buffer> {
    const cached = this.masters.get(playbackId);
    const now = Date.now();
    if (cached) cached.lastRequestedAt = now;
    if (cached && now - cached.at < MASTER_TTL_MS) return cached.text;
    return (await this.flights.run(`master:${playbackId}`, async () => {
      const { body: text } = await this.fetchFromParent(playbackId, `/hls/${playbackId}/master.m3u8`, 5_000, this.maxPlaylistBytes);
      this.options.onUpstreamRequest?.('master', text.length, playbackId);
      this.masters.set(playbackId, { text, at: Date.now(), lastRequestedAt: Date.now() });
      return text;
    })) as Buffer;
  }

  /** The stream's thumbnail (JPEG or WebP) from a parent, kept a few seconds; one request upstream however many ask. */
  async thumbnail(playbackId: string, format: ThumbnailFormat = 'jpg'): Promise<Buffer> {
    const key = `${playbackId}.${format}`;
    const cached = this.thumbnails.get(key);
    const now = Date.now();
    if (cached) cached.lastRequestedAt = now;
    if (cached && now - cached.at < THUMBNAIL_TTL_MS) return cached.bytes;
    return (await this.flights.run(`thumbnail:${key}`, async () => {
      const { body } = await this.fetchFromParent(playbackId, `/hls/${playbackId}/thumbnail.${format}`, 5_000, UPSTREAM_THUMBNAIL_BYTES);
      const valid = format === 'webp' ? isWebp(body) : body.length >= 4 && body[0] === 0xff && body[1] === 0xd8;
      if (!valid) throw new CastnetError('UPSTREAM_FAILED', `the parent's thumbnail is not a ${format === 'webp' ? 'WebP' : 'JPEG'}`, { playbackId });
      this.options.onUpstreamRequest?.('thumbnail', body.length, playbackId);
      this.thumbnails.set(key, { bytes: body, at: Date.now(), lastRequestedAt: Date.now() });
      return body;
    })) as Buffer;
  }

  private key(playbackId: string, rendition: string): string {
    return `${playbackId}/${rendition}`;
  }

  /** Refuses (as content from a bad parent) a playlist that jumps far past the one followed. */
  private checkPlaylist(key: string, playbackId: string, text: Buffer): void {
    const p = this.playlists.get(key);
    const { last } = lastMediaSequence(text.toString('latin1'));
    if (p && p.last >= 0 && last > p.last + UPSTREAM_MAX_SEQ_JUMP) {
      this.options.onPlaylistRefused?.(playbackId);
      throw new CastnetError('BAD_REQUEST', `the parent's playlist jumps from segment ${p.last} to ${last} (at most ${UPSTREAM_MAX_SEQ_JUMP} ahead)`, { playbackId, from: 'parent', reason: 'seq_ahead' });
    }
  }

  /** Reads a parent's low-latency playlist, refused as content from a bad parent when it is not of our form. */
  private readLl(playbackId: string, text: Buffer): FollowedLl {
    let parsed: ParsedLlPlaylist;
    let full: Buffer;
    try {
      parsed = parseLlPlaylist(text.toString('latin1'));
      full = Buffer.from(writeLlPlaylist(parsed), 'latin1');
    } catch (err) {
      throw new CastnetError('BAD_REQUEST', `the parent's low-latency playlist is refused: ${(err as Error).message}`, { playbackId, from: 'parent', reason: 'playlist_malformed' });
    }
    return { parsed, full, delta: null, newest: llNewest(parsed) };
  }

  private update(key: string, playbackId: string, text: Buffer, parent: string, ll: FollowedLl | null): FollowedPlaylist {
    const parsed = lastMediaSequence(text.toString('latin1'));
    // Waits are multiples of it: a parent's claim is bounded as a pushed one is.
    parsed.targetDuration = Math.min(MAX_TARGET_DURATION_SECONDS, Math.max(1, parsed.targetDuration || 2));
    let p = this.playlists.get(key);
    if (!p) {
      p = { playbackId, parent, text, ...parsed, lastRequestedAt: Date.now(), following: false, waiters: new PlaylistWaiters(), ll };
      this.playlists.set(key, p);
    } else if (parsed.last >= p.last && (!ll || !p.ll || ll.newest >= p.ll.newest)) {
      Object.assign(p, { text, parent, ...parsed, ll });
      if (p.ended) p.waiters.wakeAll();
      else p.waiters.wake(ll ? ll.newest : p.last);
    }
    this.options.cache.setLiveWindow(key, p.first);
    // Parts of segments that left the window are not listed any more: the whole segment serves them.
    if (p.ll) this.options.cache.setLiveWindow(`${key}#parts`, position(p.first, 0));
    return p;
  }

  private async loadPlaylist(playbackId: string, rendition: string, msn?: number, part?: number): Promise<FollowedPlaylist> {
    const key = this.key(playbackId, rendition);
    const query = msn === undefined ? '' : `?_HLS_msn=${msn}${part === undefined ? '' : `&_HLS_part=${part}`}`;
    return (await this.flights.run(`playlist:${key}${query}`, async () => {
      const existing = this.playlists.get(key);
      // A blocking request may be held for three target durations upstream.
      const timeoutMs = msn === undefined ? 5_000 : (existing?.targetDuration ?? 2) * 3_000 + 2_000;
      let ll: FollowedLl | null = null;
      const { body: text, parent } = await this.fetchFromParent(playbackId, `/hls/${playbackId}/${rendition}/index.m3u8${query}`, timeoutMs, this.maxPlaylistBytes, async (body) => {
        this.checkPlaylist(key, playbackId, body);
        ll = body.includes('#EXT-X-PART-INF:') ? this.readLl(playbackId, body) : null;
        return {};
      });
      this.options.onUpstreamRequest?.('playlist', text.length, playbackId);
      return this.update(key, playbackId, text, parent, ll);
    })) as FollowedPlaylist;
  }

  /** Follows the parent's playlist with blocking reloads while viewers keep asking for it. */
  private follow(playbackId: string, rendition: string, p: FollowedPlaylist): void {
    if (p.following || this.closed) return;
    p.following = true;
    const key = this.key(playbackId, rendition);
    const loop = async () => {
      while (!this.closed && Date.now() - p.lastRequestedAt < this.options.idleMs && this.playlists.get(key) === p) {
        const before = p.last;
        const beforePart = p.ll?.newest ?? -1;
        try {
          // A low-latency parent is asked for its preload-hinted part: it answers the moment that part exists.
          const hint = p.ll?.parsed.hint ?? null;
          if (hint) this.prefetchPart(playbackId, rendition, hint.seq, hint.part);
          await this.loadPlaylist(playbackId, rendition, hint ? hint.seq : p.last + 1, hint?.part);
          const ext = p.ll ? 'm4s' : 'ts';
          // Prefetch the new segment once, so the first viewer to ask for it is not the one who waits.
          for (let seq = Math.max(before + 1, p.last - MAX_PREFETCH + 1); seq <= p.last; seq++) void this.segment(playbackId, rendition, seq, ext).catch((err) => this.options.logger.debug({ err, playbackId, rendition, seq }, 'prefetch failed; the first viewer to ask pulls it'));
          if (p.ll) this.prefetchLl(playbackId, rendition, p.ll.parsed);
        } catch (err) {
          const code = (err as CastnetError).code;
          if (code === 'STREAM_NOT_FOUND') {
            this.playlists.delete(key);
            break;
          }
          // 503 from a parent that waited out its window is normal; anything else backs off a little.
          if (code !== 'UNAVAILABLE') {
            this.options.logger.debug({ err, playbackId, rendition }, 'following the parent playlist failed; retrying');
            await new Promise((r) => setTimeout(r, 500).unref());
          }
        }
        // A parent that does not block (it answered at once without a new segment) must not be hammered; an
        // ended playlist is still followed, once a target duration, in case the broadcaster comes back.
        if (p.last === before && (p.ll?.newest ?? -1) === beforePart) await new Promise((r) => setTimeout(r, p.ended ? p.targetDuration * 1_000 : 250).unref());
      }
      p.following = false;
    };
    void loop();
  }

  /**
   * A media playlist as the parent serves it; with `msn`, once it lists that segment (blocking reload). A
   * low-latency one is this edge's own: with `part`, once it lists that part (§6.2.5.2); `skip` for the delta update.
   */
  async mediaPlaylist(playbackId: string, rendition: string, msn?: number, part?: number, skip = false): Promise<Buffer> {
    const key = this.key(playbackId, rendition);
    let p = this.playlists.get(key);
    if (!p || (!p.following && Date.now() - p.lastRequestedAt > p.targetDuration * 500)) p = await this.loadPlaylist(playbackId, rendition);
    p.lastRequestedAt = Date.now();
    this.follow(playbackId, rendition, p);
    if (p.ll) return this.llPlaylist(p, playbackId, rendition, msn, part, skip);
    // An ended playlist is answered at once, as the origin does.
    if (msn === undefined || msn <= p.last || p.ended) return p.text;
    if (msn > p.last + 2) throw new CastnetError('BAD_REQUEST', `_HLS_msn ${msn} is too far ahead of the newest segment ${p.last}`, { playbackId, rendition });
    const followed = p;
    await followed.waiters.wait(msn, followed.targetDuration * 3_000, { playbackId, rendition });
    return followed.text;
  }

  private async llPlaylist(p: FollowedPlaylist, playbackId: string, rendition: string, msn: number | undefined, part: number | undefined, skip: boolean): Promise<Buffer> {
    if (msn !== undefined && !p.ended) {
      const newestSeq = p.ll!.parsed.open?.seq ?? p.last;
      if (msn > newestSeq + 2) throw new CastnetError('BAD_REQUEST', `_HLS_msn ${msn} is too far ahead of the newest segment ${newestSeq}`, { playbackId, rendition });
      if (part !== undefined && part >= 1024) throw new CastnetError('BAD_REQUEST', '_HLS_part is too large', { playbackId, rendition });
      const target = position(msn, part ?? 'complete');
      if (target > p.ll!.newest) await p.waiters.wait(target, p.targetDuration * 3_000, { playbackId, rendition });
    }
    const ll = p.ll!;
    if (!skip) return ll.full;
    ll.delta ??= Buffer.from(writeLlPlaylist({ ...ll.parsed, skip: true }), 'latin1');
    return ll.delta;
  }

  /** Pulls what a new low-latency playlist lists and the edge lacks: its newest part and its init segment. */
  private prefetchLl(playbackId: string, rendition: string, parsed: ParsedLlPlaylist): void {
    const open = parsed.open;
    if (!open) return;
    if (open.parts.length > 0) this.prefetchPart(playbackId, rendition, open.seq, open.parts.length - 1);
    if (parsed.hint) this.prefetchPart(playbackId, rendition, parsed.hint.seq, parsed.hint.part);
    void this.init(playbackId, rendition, open.initSeq).catch((err) => this.options.logger.debug({ err, playbackId, rendition }, 'init prefetch failed; the first viewer to ask pulls it'));
  }

  private prefetchPart(playbackId: string, rendition: string, seq: number, part: number): void {
    void this.part(playbackId, rendition, seq, part).catch((err) => this.options.logger.debug({ err, playbackId, rendition, seq, part }, 'part prefetch failed; the first viewer to ask pulls it'));
  }

  /**
   * A part from the cache, or pulled from the parent once for every concurrent asker: a request for the
   * preload-hinted part is held by the parent until it exists, so N viewers waiting on it here are one
   * request upstream. Parts of segments outside the followed window are refused without asking.
   */
  async part(playbackId: string, rendition: string, seq: number, part: number): Promise<{ segment: CachedSegment; hit: boolean }> {
    const path = `/hls/${playbackId}/${rendition}/${seq}.${part}.m4s`;
    const cached = this.options.cache.get(path);
    if (cached) return { segment: cached, hit: true };
    const p = this.playlists.get(this.key(playbackId, rendition));
    if (p?.ll && !p.ended && (seq < p.first || seq > (p.ll.parsed.open?.seq ?? p.last) + 1)) throw new CastnetError('SEGMENT_NOT_FOUND', `no part ${seq}.${part} of ${rendition}: outside the live window`, { playbackId, rendition, seq, part });
    const verify = this.options.verifyPart;
    if (!verify) throw new CastnetError('INTERNAL', 'this edge checks no parts', { playbackId });
    // The parent holds a hinted part up to six part targets (stream-store.ts).
    const timeoutMs = (p?.ll?.parsed.partTarget ?? 1) * 6_000 + 2_000;
    const segment = (await this.flights.run(`part:${path}`, async () => {
      const { body: bytes, etag, headers } = await this.fetchFromParent(playbackId, path, timeoutMs, this.maxSegmentBytes, (body, h) => verify({ playbackId, rendition, seq }, part, h, body));
      this.options.onUpstreamRequest?.('part', bytes.length, playbackId);
      const entry: CachedSegment = { bytes, etag: etag ?? `"${seq}.${part}.${bytes.length}"`, window: this.partWindow(playbackId, rendition), seq: position(seq, part), headers };
      this.options.cache.set(path, entry);
      return entry;
    })) as CachedSegment;
    return { segment, hit: false };
  }

  /** An init segment (EXT-X-MAP) from the cache, or pulled once; it never changes. */
  async init(playbackId: string, rendition: string, seq: number): Promise<{ segment: CachedSegment; hit: boolean }> {
    const path = `/hls/${playbackId}/${rendition}/init-${seq}.mp4`;
    const cached = this.options.cache.get(path);
    if (cached) return { segment: cached, hit: true };
    const verify = this.options.verifyInit;
    if (!verify) throw new CastnetError('INTERNAL', 'this edge checks no init segments', { playbackId });
    const segment = (await this.flights.run(`init:${path}`, async () => {
      // An init segment is a few hundred bytes (the origin takes 64 KiB at most).
      const { body: bytes, etag, headers } = await this.fetchFromParent(playbackId, path, 5_000, 64 * 1024, (body, h) => verify({ playbackId, rendition, seq }, h, body));
      this.options.onUpstreamRequest?.('init', bytes.length, playbackId);
      const entry: CachedSegment = { bytes, etag: etag ?? `"init.${seq}.${bytes.length}"`, window: `${this.key(playbackId, rendition)}#init`, seq, headers };
      this.options.cache.set(path, entry);
      return entry;
    })) as CachedSegment;
    return { segment, hit: false };
  }

  /** A segment from the cache, or pulled from the parent once for every concurrent asker. */
  async segment(playbackId: string, rendition: string, seq: number, ext: 'ts' | 'm4s' = 'ts'): Promise<{ segment: CachedSegment; hit: boolean }> {
    const path = `/hls/${playbackId}/${rendition}/${seq}.${ext}`;
    const cached = this.options.cache.get(path);
    if (cached) return { segment: cached, hit: true };
    const segment = (await this.flights.run(`segment:${path}`, async () => {
      const { body: bytes, etag, headers, parent } = await this.fetchFromParent(playbackId, path, 10_000, this.maxSegmentBytes, (body, h) => this.options.verifySegment({ playbackId, rendition, seq }, h, body), true);
      this.options.onUpstreamRequest?.('segment', bytes.length, playbackId);
      this.options.onSegmentPulled?.({ playbackId, rendition, seq }, parent, bytes.length);
      const entry: CachedSegment = { bytes, etag: etag ?? `"${playbackId}.${rendition}.${seq}.${bytes.length}"`, window: this.key(playbackId, rendition), seq, headers };
      this.options.cache.set(path, entry);
      return entry;
    })) as CachedSegment;
    return { segment, hit: false };
  }

  /** Forgets streams nobody asked for within the idle limit, and their cached segments. */
  private sweep(): void {
    const cutoff = Date.now() - this.options.idleMs;
    for (const [key, p] of this.playlists) if (p.lastRequestedAt < cutoff && !p.following) this.playlists.delete(key);
    for (const [id, m] of this.masters) if (m.lastRequestedAt < cutoff) this.masters.delete(id);
    for (const [id, t] of this.thumbnails) if (t.lastRequestedAt < cutoff) this.thumbnails.delete(id);
    this.options.cache.retainStreams(new Set([...[...this.playlists.values()].map((p) => p.playbackId), ...this.masters.keys()]));
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
  }
}
