// The relay's push side, for broadcasters: the stream descriptor, segments, and the end of a stream. Every
// push is the stream's publisher's: the descriptor and the end are requests signed by its publisher key
// (protocol/signed-request.ts, replays refused), each segment carries the publisher's content signature
// (content-check.ts), and the key is the one the directory binds to the playback id (publisher-keys.ts).
// An edge relay (--edge) answers every push with 403 PUSH_REFUSED: it only serves what it pulls from parents.

import express, { type Request, type RequestHandler, type Router } from 'express';
import { assertMpegTs } from '../media/mpegts.ts';
import { CONTENT_SIGNATURE_HEADER } from '../protocol/content-signature.ts';
import { CastnetError } from '../protocol/errors.ts';
import { parseRequest } from '../protocol/fields.ts';
import { parseSegmentMetadata } from '../protocol/segment-metadata.ts';
import { RequestVerifier } from '../protocol/signed-request.ts';
import { streamDescriptorSchema } from '../protocol/stream-record.ts';
import type { HttpGuard } from '../http/http-limits.ts';
import type { Logger } from '../observability/logger.ts';
import type { ContentCheck } from './content-check.ts';
import type { RelayMetrics } from './metrics.ts';
import type { PublisherKeys } from './publisher-keys.ts';
import type { PlaybackGuard } from './playback-guard.ts';
import { checkId, checkRendition } from './route-params.ts';
import type { StreamStore } from './stream-store.ts';

export interface PushRoutesOptions {
  store: StreamStore;
  metrics: RelayMetrics;
  logger: Logger;
  keys: PublisherKeys;
  content: ContentCheck;
  /** Holds the playback policy the descriptor carries. */
  playback: PlaybackGuard;
  now?: () => number;
  /** Bounds bodies and counts what it refuses. */
  guard: HttpGuard;
  maxSegmentBytes: number;
  maxDescriptorBytes: number;
  /** Refuse every push. */
  edge?: boolean;
}

/** Counts a push once its body is read, as a request the relay acted on, by its answer's status. */
export function countedPush(metrics: RelayMetrics): RequestHandler {
  return (_req, res, next) => {
    res.once('finish', () => metrics.requests.inc({ kind: 'push', status: String(res.statusCode) }));
    next();
  };
}

export function pushRoutes({ store, metrics, logger, keys, content, playback, guard, maxSegmentBytes, maxDescriptorBytes, now = Date.now, edge = false }: PushRoutesOptions): Router {
  const router = express.Router();
  if (edge) {
    router.use('/hls', (req, res, next) => {
      if (req.method !== 'PUT' && req.method !== 'POST') return next();
      metrics.requests.inc({ kind: 'push', status: '403' });
      throw new CastnetError('PUSH_REFUSED', 'this relay is an edge (--edge): it serves streams pulled from parent relays and takes no pushes; push to an origin relay', { path: req.originalUrl });
    });
    return router;
  }
  const requests = new RequestVerifier({ now });
  const counted = countedPush(metrics);

  /** The signed request's signer, which must be the stream's publisher; `fresh`: ask the directory again. */
  async function publisherRequest(req: Request, playbackId: string, fresh: boolean): Promise<void> {
    let signer: string;
    try {
      signer = requests.verify({ method: req.method, path: req.originalUrl, body: Buffer.isBuffer(req.body) ? req.body : new Uint8Array(0), header: (h) => req.header(h) });
    } catch (err) {
      const reason = err instanceof CastnetError ? String(err.context.reason ?? 'signature_invalid') : 'signature_invalid';
      metrics.contentRefused.inc({ from: 'push', reason });
      throw err;
    }
    let publisher: string;
    try {
      publisher = await keys.publisherOf(playbackId, signer, { fresh });
    } catch (err) {
      if (err instanceof CastnetError && err.context.reason === 'publisher_unknown') content.refuse('publisher_unknown', { playbackId, from: 'push' }, err.message);
      throw err;
    }
    if (signer !== publisher) content.refuse('wrong_signer', { playbackId, from: 'push' }, `the request is signed by ${signer}, not by this stream's publisher key ${publisher}`);
  }

  router.put('/hls/:playbackId', ...guard.rawBody('a stream descriptor', maxDescriptorBytes), counted, async (req, res) => {
    const playbackId = checkId(req.params.playbackId, 'playback id');
    // A descriptor starts a publication: the directory is asked afresh whose the playback id is now.
    await publisherRequest(req, playbackId, true);
    let body: unknown;
    try {
      body = JSON.parse((req.body as Buffer).toString('utf8'));
    } catch {
      throw new CastnetError('BAD_REQUEST', 'the stream descriptor is not JSON');
    }
    const descriptor = parseRequest(streamDescriptorSchema, { ...(body as object), playbackId }, 'stream descriptor');
    // The policy first: a descriptor whose policy is forged or stale starts nothing (else it would play public).
    if (descriptor.playbackPolicy) await playback.setPushed(playbackId, descriptor.playbackPolicy);
    store.setDescriptor(descriptor);
    res.status(204).end();
  });
  // The broadcaster's stream closed: playlists end with EXT-X-ENDLIST (RFC 8216 §4.3.3.4).
  router.post('/hls/:playbackId/end', express.raw({ type: () => true, limit: '1kb' }), counted, async (req, res) => {
    const playbackId = checkId(req.params.playbackId, 'playback id');
    await publisherRequest(req, playbackId, false);
    store.end(playbackId);
    res.status(204).end();
  });
  router.put('/hls/:playbackId/:rendition/:seq.ts', ...guard.rawBody('a segment', maxSegmentBytes), counted, async (req, res) => {
    const playbackId = checkId(req.params.playbackId, 'playback id');
    const rendition = checkRendition(req.params.rendition);
    const seq = Number(req.params['seq']);
    if (!Number.isInteger(seq) || seq < 0) throw new CastnetError('INVALID_PATH', 'invalid segment sequence');
    const meta = parseSegmentMetadata(req.headers);
    const bytes = req.body as Buffer;
    const signature = req.header(CONTENT_SIGNATURE_HEADER);
    await content.segment('push', { playbackId, rendition, seq }, meta, bytes, signature);
    assertMpegTs(bytes, { playbackId, rendition, seq });
    store.putSegment(playbackId, rendition, seq, { ...meta, signature: signature! }, bytes);
    metrics.segmentsReceived.inc();
    logger.debug({ playbackId, rendition, seq, bytes: bytes.length }, 'segment stored');
    res.status(201).end();
  });
  return router;
}
