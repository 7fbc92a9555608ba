// The relay's viewer fast path on plain node:http: playlists and segments for streams held here (origin)
// or pulled from a parent (edge), with blocking reload, conditional requests, Range and HEAD. It runs
// before Express and answers only the HLS GET/HEAD/OPTIONS routes. Hot path: every viewer request; no
// per-request hashing or copying (ETags are fixed at arrival, ranges are views).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { CastnetError, errorResponse } from '../protocol/errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { RelayMetrics } from './metrics.ts';
import type { Thumbnail, ThumbnailFormat } from './thumbnailer.ts';
import type { StreamStats } from './stream-stats.ts';
import type { StreamStore } from './stream-store.ts';
import type { Upstream } from './upstream.ts';
import type { PlaybackGuard } from './playback-guard.ts';
import { corsHeaders, preflightHeaders, type CorsPolicy } from '../http/cors.ts';
import { ID_CHARS, RENDITION_CHARS } from '../protocol/fields.ts';
import { SIGNED_SEGMENT_HEADER_NAMES } from '../protocol/segment-metadata.ts';
import { SIGNED_PART_HEADER_NAMES } from '../protocol/part-metadata.ts';
import { RECEIPT_ANSWER_HEADER } from '../protocol/delivery-receipt.ts';
import { receiptParamOf } from './receipt-intake.ts';

const MASTER = new RegExp(`^/hls/(${ID_CHARS})/master\\.m3u8$`);
const MEDIA = new RegExp(`^/hls/(${ID_CHARS})/(${RENDITION_CHARS})/index\\.m3u8$`);
const SEGMENT = new RegExp(`^/hls/(${ID_CHARS})/(${RENDITION_CHARS})/(\\d{1,12})\\.(ts|m4s)$`);
// Low-latency HLS (CMAF): parts and init segments.
const PART = new RegExp(`^/hls/(${ID_CHARS})/(${RENDITION_CHARS})/(\\d{1,12})\\.(\\d{1,4})\\.m4s$`);
const INIT = new RegExp(`^/hls/(${ID_CHARS})/(${RENDITION_CHARS})/init-(\\d{1,12})\\.mp4$`);
const THUMBNAIL = new RegExp(`^/hls/(${ID_CHARS})/thumbnail\\.(jpg|webp)$`);
// Signed playback: the stream's publisher-signed policy, public (it holds public keys only) so edges and players can read it.
const POLICY = new RegExp(`^/hls/(${ID_CHARS})/policy\\.json$`);

const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
/** Players on any origin read playlists and segments (and each segment's signature), and may range-request and revalidate them. */
export const HLS_CORS: CorsPolicy = {
  exposeHeaders: ['content-length', 'content-range', 'etag', RECEIPT_ANSWER_HEADER, ...SIGNED_SEGMENT_HEADER_NAMES, ...SIGNED_PART_HEADER_NAMES],
  preflight: { methods: ['GET', 'HEAD', 'OPTIONS'], headers: ['range', 'if-none-match', 'authorization'], maxAgeSeconds: 86_400 },
};
const CORS = corsHeaders(HLS_CORS);
const PREFLIGHT = preflightHeaders(HLS_CORS);
// Under half a target duration, so a CDN in front never holds a live playlist past the next segment.
const PLAYLIST_HEADERS = { ...CORS, 'content-type': PLAYLIST_TYPE, 'cache-control': 'public, max-age=1' };
const MASTER_HEADERS = { ...CORS, 'content-type': PLAYLIST_TYPE, 'cache-control': 'public, max-age=2' };
const SEGMENT_HEADERS = { ...CORS, 'content-type': 'video/mp2t', 'cache-control': 'public, max-age=86400, immutable', 'accept-ranges': 'bytes' };
const CMAF_HEADERS = { ...SEGMENT_HEADERS, 'content-type': 'video/mp4' };
/** Refreshed about every 10 s: cached like a playlist, briefly. */
export const THUMBNAIL_HEADERS = { ...CORS, 'content-type': 'image/jpeg', 'cache-control': 'public, max-age=5' };
const WEBP_THUMBNAIL_HEADERS = { ...THUMBNAIL_HEADERS, 'content-type': 'image/webp' };

export interface HlsHandlerOptions {
  store: StreamStore;
  upstream: Upstream | null;
  metrics: RelayMetrics;
  stats: StreamStats;
  logger: Logger;
  /** Signed playback: every route of a stream is admitted by it first (relay/playback-guard.ts). */
  playback: PlaybackGuard;
  /** Paid delivery: a refusal for a stream this relay no longer serves (its payer stopped paying), else null. */
  admit?: (playbackId: string) => CastnetError | null;
  /**
   * Paid delivery: a receipt riding on a segment, part or init segment request (its `castnet-receipt` parameter, from
   * `source`), answered in the response's RECEIPT_ANSWER_HEADER (relay/receipt-intake.ts).
   */
  receipt?: (playbackId: string, source: string, value: string) => Promise<string>;
  /** The newest thumbnail of a stream pushed here (relay/thumbnailer.ts); rejects with a reason when none. */
  thumbnail?: (playbackId: string) => Thumbnail;
}

export function fail(res: ServerResponse, err: unknown, kind: string, metrics: RelayMetrics, logger: Logger): void {
  const { status, body } = errorResponse(err);
  metrics.requests.inc({ kind, status: String(status) });
  // A viewer's 5xx (a parent or the directory failing) is the relay's to report; 4xx are the viewer's. At
  // debug: every viewer of a stream whose parent is down fails alike, and warn would flood the log.
  if (status >= 500 && status !== 503) logger.debug({ err, kind }, 'viewer request failed');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const json = JSON.stringify(body);
  res.writeHead(status, { ...CORS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json), 'cache-control': 'no-store', ...(status === 401 ? { 'www-authenticate': 'Bearer realm="castnet-playback"' } : {}) });
  res.end(json);
}

export function send(req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string | number>, body: Buffer): void {
  res.writeHead(status, { ...headers, 'content-length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** `bytes=a-b`, `bytes=a-` or `bytes=-n` (one range; several are answered with the whole body). */
function parseRange(header: string, size: number): [number, number] | 'unsatisfiable' | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return [start, end];
}

function viewerSession(req: IncomingMessage): string {
  return `${req.socket.remoteAddress}|${req.headers['user-agent'] ?? ''}`;
}

export function createHlsHandler(options: HlsHandlerOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { store, upstream, metrics, stats, logger, playback } = options;

  // Label lookups hash their labels on every call; the common outcomes are resolved once.
  const mediaOk = metrics.requests.labels('media', '200');
  const masterOk = metrics.requests.labels('master', '200');
  const segmentOk = metrics.requests.labels('segment', '200');
  const cacheHit = metrics.cache.labels('hit');

  async function playlist(req: IncomingMessage, res: ServerResponse, playbackId: string, rendition: string, query: string): Promise<void> {
    const params = query ? new URLSearchParams(query) : null;
    const msnText = params?.get('_HLS_msn') ?? null;
    if (params?.has('_HLS_part') && msnText === null) throw new CastnetError('BAD_REQUEST', '_HLS_part needs _HLS_msn');
    const msn = msnText === null ? undefined : Number(msnText);
    if (msn !== undefined && (!Number.isInteger(msn) || msn < 0)) throw new CastnetError('BAD_REQUEST', '_HLS_msn must be a whole number');
    const partText = params?.get('_HLS_part') ?? null;
    const part = partText === null ? undefined : Number(partText);
    if (part !== undefined && (!Number.isInteger(part) || part < 0)) throw new CastnetError('BAD_REQUEST', '_HLS_part must be a whole number');
    const skip = params?.get('_HLS_skip') === 'YES';
    // A viewer is counted as the request arrives (before a blocking reload waits) when the stream is known
    // here, and else once the parent answered: a request for an unknown id leaves no stats.
    let counted = false;
    const count = () => {
      if (!counted) stats.viewer(playbackId, viewerSession(req));
      counted = true;
    };
    let body: Buffer;
    if (store.has(playbackId)) {
      count();
      const waitMs = store.targetDurationOf(playbackId) * 3_000;
      if (msn !== undefined && part !== undefined && store.isLowLatency(playbackId, rendition)) await store.waitForPart(playbackId, rendition, msn, part, waitMs);
      else if (msn !== undefined) await store.waitForSequence(playbackId, rendition, msn, waitMs);
      body = store.mediaPlaylistBytes(playbackId, rendition, skip);
    } else if (upstream) {
      if (upstream.follows(playbackId)) count();
      body = await upstream.mediaPlaylist(playbackId, rendition, msn, part, skip);
      count();
    } else {
      throw new CastnetError('STREAM_NOT_FOUND', 'no live stream with this playback id on this relay', { playbackId });
    }
    mediaOk.inc();
    send(req, res, 200, PLAYLIST_HEADERS, body);
  }

  async function master(req: IncomingMessage, res: ServerResponse, playbackId: string): Promise<void> {
    let body: Buffer;
    if (store.has(playbackId)) body = store.multivariantPlaylistBytes(playbackId);
    else if (upstream) body = await upstream.master(playbackId);
    else throw new CastnetError('STREAM_NOT_FOUND', 'no live stream with this playback id on this relay', { playbackId });
    masterOk.inc();
    send(req, res, 200, MASTER_HEADERS, body);
  }

  /**
   * A part or init segment of a CMAF rendition held here, or pulled from the parent (an edge); a part the
   * preload hint names is waited for.
   */
  async function cmafPiece(req: IncomingMessage, res: ServerResponse, playbackId: string, rendition: string, seq: number, part: number | null): Promise<void> {
    const kind = part === null ? 'init' : 'part';
    let piece: { bytes: Buffer; etag: string; headers: Record<string, string> };
    if (store.has(playbackId)) {
      piece = part === null ? store.init(playbackId, rendition, seq) : await store.part(playbackId, rendition, seq, part, Math.max(1_000, (store.partTargetOf(playbackId, rendition) ?? 1) * 6_000));
    } else if (upstream) {
      const refusal = options.admit?.(playbackId);
      if (refusal) throw refusal;
      const pulled = part === null ? await upstream.init(playbackId, rendition, seq) : await upstream.part(playbackId, rendition, seq, part);
      metrics.cache.inc({ result: pulled.hit ? 'hit' : 'miss' });
      piece = pulled.segment;
    } else {
      throw new CastnetError('STREAM_NOT_FOUND', 'no live stream with this playback id on this relay', { playbackId });
    }
    if (req.headers['if-none-match'] === piece.etag) {
      metrics.requests.inc({ kind, status: '304' });
      res.writeHead(304, { ...CMAF_HEADERS, ...piece.headers, etag: piece.etag });
      res.end();
      return;
    }
    metrics.requests.inc({ kind, status: '200' });
    if (req.method !== 'HEAD') {
      metrics.bytesServed.inc(piece.bytes.length);
      stats.served(playbackId, piece.bytes.length, true);
    }
    send(req, res, 200, { ...CMAF_HEADERS, ...piece.headers, etag: piece.etag }, piece.bytes);
  }

  async function segment(req: IncomingMessage, res: ServerResponse, playbackId: string, rendition: string, seq: number, cmaf = false): Promise<void> {
    let bytes: Buffer;
    let etag: string;
    let signed: Record<string, string>;
    let hit = true;
    const refusal = options.admit?.(playbackId);
    if (refusal) throw refusal;
    if (store.has(playbackId)) {
      try {
        ({ bytes, etag, headers: signed } = store.segment(playbackId, rendition, seq));
      } catch (err) {
        metrics.cache.inc({ result: 'miss' });
        throw err;
      }
    } else if (upstream) {
      const pulled = await upstream.segment(playbackId, rendition, seq, cmaf ? 'm4s' : 'ts');
      ({ bytes, etag, headers: signed } = pulled.segment);
      hit = pulled.hit;
    } else {
      metrics.cache.inc({ result: 'miss' });
      throw new CastnetError('STREAM_NOT_FOUND', 'no live stream with this playback id on this relay', { playbackId });
    }
    if (hit) cacheHit.inc();
    else metrics.cache.inc({ result: 'miss' });
    if (req.headers['if-none-match'] === etag) {
      metrics.requests.inc({ kind: 'segment', status: '304' });
      res.writeHead(304, { ...SEGMENT_HEADERS, ...signed, etag });
      res.end();
      return;
    }
    const range = req.headers.range ? parseRange(req.headers.range, bytes.length) : null;
    if (range === 'unsatisfiable') {
      metrics.requests.inc({ kind: 'segment', status: '416' });
      res.writeHead(416, { ...CORS, 'content-range': `bytes */${bytes.length}` });
      res.end();
      return;
    }
    const body = range ? bytes.subarray(range[0], range[1] + 1) : bytes;
    if (req.method !== 'HEAD') {
      metrics.bytesServed.inc(body.length);
      stats.served(playbackId, body.length, hit);
    }
    if (range) metrics.requests.inc({ kind: 'segment', status: '206' });
    else segmentOk.inc();
    // The signature travels with the segment: the next hop (an edge, a player) checks it.
    const base = cmaf ? CMAF_HEADERS : SEGMENT_HEADERS;
    send(req, res, range ? 206 : 200, range ? { ...base, ...signed, etag, 'content-range': `bytes ${range[0]}-${range[1]}/${bytes.length}` } : { ...base, ...signed, etag }, body);
  }

  /** Held here (origin), else the parent's (edge, through the single flight); never made on this path. */
  async function thumbnail(req: IncomingMessage, res: ServerResponse, playbackId: string, format: ThumbnailFormat): Promise<void> {
    let bytes: Buffer;
    let etag: string | undefined;
    if (store.has(playbackId) || !upstream) {
      if (!options.thumbnail) throw new CastnetError('NOT_FOUND', 'this relay makes no thumbnails', { playbackId, reason: 'no_thumbnail' });
      const t = options.thumbnail(playbackId);
      if (format === 'webp' && !t.webp) throw new CastnetError('NOT_FOUND', "this relay's FFmpeg makes no WebP: ask for thumbnail.jpg", { playbackId, reason: 'no_webp' });
      ({ bytes, etag } = format === 'webp' ? t.webp! : t);
    } else {
      bytes = await upstream.thumbnail(playbackId, format);
    }
    const headers = format === 'webp' ? WEBP_THUMBNAIL_HEADERS : THUMBNAIL_HEADERS;
    if (etag && req.headers['if-none-match'] === etag) {
      metrics.requests.inc({ kind: 'thumbnail', status: '304' });
      res.writeHead(304, { ...headers, etag });
      res.end();
      return;
    }
    metrics.requests.inc({ kind: 'thumbnail', status: '200' });
    send(req, res, 200, etag ? { ...headers, etag } : headers, bytes);
  }

  async function policyDocument(req: IncomingMessage, res: ServerResponse, playbackId: string): Promise<void> {
    if (!store.has(playbackId) && !upstream) throw new CastnetError('STREAM_NOT_FOUND', 'no live stream with this playback id on this relay', { playbackId });
    const document = await playback.document(playbackId);
    metrics.requests.inc({ kind: 'policy', status: '200' });
    send(req, res, 200, { ...CORS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'public, max-age=2' }, Buffer.from(JSON.stringify({ document })));
  }

  return (req, res) => {
    const url = req.url ?? '';
    if (!url.startsWith('/hls/') || (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'OPTIONS')) return false;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);
    let m: RegExpExecArray | null;
    let kind: string;
    let work: () => Promise<void>;
    if ((m = SEGMENT.exec(path))) {
      const [, id, rendition, seq, ext] = m;
      kind = 'segment';
      // A CMAF segment is served only as .m4s and an MPEG-TS one only as .ts: one name per resource.
      if ((ext === 'm4s') !== store.isLowLatency(id!, rendition!) && store.has(id!)) work = () => Promise.reject(new CastnetError('SEGMENT_NOT_FOUND', `this rendition's segments are not .${ext}`, { playbackId: id!, rendition: rendition! }));
      else work = () => segment(req, res, id!, rendition!, Number(seq), ext === 'm4s');
    } else if ((m = PART.exec(path))) {
      const [, id, rendition, seq, part] = m;
      kind = 'part';
      work = () => cmafPiece(req, res, id!, rendition!, Number(seq), Number(part));
    } else if ((m = INIT.exec(path))) {
      const [, id, rendition, seq] = m;
      kind = 'init';
      work = () => cmafPiece(req, res, id!, rendition!, Number(seq), null);
    } else if ((m = MEDIA.exec(path))) {
      const [, id, rendition] = m;
      kind = 'media';
      // The most frequent request of all (every player, every target duration): answered without a promise.
      if (!query && req.method === 'GET' && store.has(id!) && playback.publicHere(id!)) {
        try {
          const body = store.mediaPlaylistBytes(id!, rendition!);
          stats.viewer(id!, viewerSession(req));
          mediaOk.inc();
          send(req, res, 200, PLAYLIST_HEADERS, body);
        } catch (err) {
          fail(res, err, kind, metrics, logger);
        }
        return true;
      }
      work = () => playlist(req, res, id!, rendition!, query);
    } else if ((m = THUMBNAIL.exec(path))) {
      const [, id, format] = m;
      kind = 'thumbnail';
      work = () => thumbnail(req, res, id!, format as ThumbnailFormat);
    } else if ((m = MASTER.exec(path))) {
      const [, id] = m;
      kind = 'master';
      work = () => master(req, res, id!);
    } else if ((m = POLICY.exec(path))) {
      const [, id] = m;
      if (req.method === 'OPTIONS') {
        res.writeHead(204, PREFLIGHT);
        res.end();
        return true;
      }
      policyDocument(req, res, id!).catch((err) => fail(res, err, 'policy', metrics, logger));
      return true;
    } else {
      return false; // not ours: Express answers (and refuses `..` and malformed ids)
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, PREFLIGHT);
      res.end();
      return true;
    }
    const id = m[1]!;
    // Paid delivery: a receipt riding on the request is taken first; its answer goes out with the segment (or its refusal).
    const receipt = options.receipt && query && (kind === 'segment' || kind === 'part' || kind === 'init') ? receiptParamOf(query) : null;
    if (receipt !== null) {
      const serve = work;
      work = async () => {
        res.setHeader(RECEIPT_ANSWER_HEADER, await options.receipt!(id, req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? 'unknown', receipt));
        await serve();
      };
    }
    // Signed playback: one check before any route of the stream answers (public streams held here: a map lookup).
    const run = playback.publicHere(id) ? work : () => playback.admit(id, req).then(work);
    run().catch((err) => fail(res, err, kind, metrics, logger));
    return true;
  };
}
