// The relay's push side, for broadcasters: the stream descriptor, segments, and the end of a stream. An edge
// relay (--edge) answers every push with 403 PUSH_REFUSED: it only serves what it pulls from parents.

import express, { type RequestHandler, type Router } from 'express';
import { assertMpegTs } from '../media/mpegts.ts';
import { CastnetError } from '../protocol/errors.ts';
import { parseRequest } from '../protocol/fields.ts';
import { parseSegmentMetadata } from '../protocol/segment-metadata.ts';
import { streamDescriptorSchema } from '../protocol/stream-record.ts';
import type { HttpGuard } from '../http/http-limits.ts';
import type { Logger } from '../observability/logger.ts';
import type { RelayMetrics } from './metrics.ts';
import { checkId, checkRendition } from './route-params.ts';
import type { StreamStore } from './stream-store.ts';

export interface PushRoutesOptions {
  store: StreamStore;
  metrics: RelayMetrics;
  logger: Logger;
  /** Bounds bodies and counts what it refuses. */
  guard: HttpGuard;
  maxSegmentBytes: number;
  maxDescriptorBytes: number;
  /** Refuse every push. */
  edge?: boolean;
}

export function pushRoutes({ store, metrics, logger, guard, maxSegmentBytes, maxDescriptorBytes, edge = false }: PushRoutesOptions): Router {
  const router = express.Router();
  if (edge) {
    router.use('/hls', (req, res, next) => {
      if (req.method !== 'PUT' && req.method !== 'POST') return next();
      metrics.requests.inc({ kind: 'push', status: '403' });
      throw new CastnetError('PUSH_REFUSED', 'this relay is an edge (--edge): it serves streams pulled from parent relays and takes no pushes; push to an origin relay', { path: req.originalUrl });
    });
    return router;
  }
  // Counted once the body is read, as requests the relay acted on.
  const counted: RequestHandler = (_req, res, next) => {
    res.once('finish', () => metrics.requests.inc({ kind: 'push', status: String(res.statusCode) }));
    next();
  };
  router.put('/hls/:playbackId', ...guard.jsonBody('a stream descriptor', maxDescriptorBytes), counted, (req, res) => {
    store.setDescriptor(parseRequest(streamDescriptorSchema, { ...req.body, playbackId: req.params.playbackId }, 'stream descriptor'));
    res.status(204).end();
  });
  // The broadcaster's stream closed: playlists end with EXT-X-ENDLIST (RFC 8216 §4.3.3.4).
  router.post('/hls/:playbackId/end', counted, (req, res) => {
    store.end(checkId(req.params.playbackId, 'playback id'));
    res.status(204).end();
  });
  router.put('/hls/:playbackId/:rendition/:seq.ts', ...guard.rawBody('a segment', maxSegmentBytes), counted, (req, res) => {
    const playbackId = checkId(req.params.playbackId, 'playback id');
    const rendition = checkRendition(req.params.rendition);
    const seq = Number(req.params['seq']);
    if (!Number.isInteger(seq) || seq < 0) throw new CastnetError('INVALID_PATH', 'invalid segment sequence');
    const meta = parseSegmentMetadata(req.headers);
    const bytes = req.body as Buffer;
    assertMpegTs(bytes, { playbackId, rendition, seq });
    store.putSegment(playbackId, rendition, seq, meta, bytes);
    metrics.segmentsReceived.inc();
    logger.debug({ playbackId, rendition, seq, bytes: bytes.length }, 'segment stored');
    res.status(201).end();
  });
  return router;
}
