// The origin relay's low-latency push side (LL-HLS over CMAF), beside push-routes.ts: init segments
// (`PUT /hls/<id>/<rendition>/init-<seq>.mp4`), parts as soon as the broadcaster has them
// (`PUT /hls/<id>/<rendition>/<seq>.<part>.m4s`) and whole CMAF segments (`PUT …/<seq>.m4s`). Each carries the
// publisher's content signature (content-check.ts); parts are checked against their init segment's tracks
// (media/fmp4.ts) and the rendition's PART-TARGET before they are stored. Edges refuse these in push-routes.ts.
// Hot path: every part (a few a second per stream).

import express, { type Router } from 'express';
import { CONTENT_SIGNATURE_HEADER } from '../protocol/content-signature.ts';
import { CastnetError } from '../protocol/errors.ts';
import { MAX_PARTS_PER_SEGMENT } from '../protocol/part-signature.ts';
import { initHeaders, parsePartMetadata, parsePartTarget, partHeaders } from '../protocol/part-metadata.ts';
import { parseSegmentMetadata } from '../protocol/segment-metadata.ts';
import type { HttpGuard } from '../http/http-limits.ts';
import type { Logger } from '../observability/logger.ts';
import type { ContentCheck } from './content-check.ts';
import type { RelayMetrics } from './metrics.ts';
import { countedPush } from './push-routes.ts';
import { checkId, checkRendition, checkWhole } from './route-params.ts';
import type { StreamStore } from './stream-store.ts';

export interface LlPushRoutesOptions {
  store: StreamStore;
  metrics: RelayMetrics;
  logger: Logger;
  content: ContentCheck;
  guard: HttpGuard;
  maxSegmentBytes: number;
}

export function llPushRoutes({ store, metrics, logger, content, guard, maxSegmentBytes }: LlPushRoutesOptions): Router {
  const router = express.Router();
  const counted = countedPush(metrics);
  // The init segment is small (a few hundred bytes); 64 KiB leaves room for long parameter sets.
  router.put('/hls/:playbackId/:rendition/init-:seq.mp4', ...guard.rawBody('an init segment', 64 * 1024), counted, async (req, res) => {
    const playbackId = checkId(req.params.playbackId, 'playback id');
    const rendition = checkRendition(req.params.rendition);
    const seq = checkWhole(req.params['seq'], 'init sequence');
    const partTarget = parsePartTarget(req.headers);
    const bytes = req.body as Buffer;
    const signature = req.header(CONTENT_SIGNATURE_HEADER);
    await content.init('push', { playbackId, rendition, seq }, partTarget, bytes, signature);
    store.putInit(playbackId, rendition, seq, partTarget, bytes, initHeaders(partTarget, signature!));
    logger.debug({ playbackId, rendition, seq, bytes: bytes.length }, 'init segment stored');
    res.status(201).end();
  });
  router.put('/hls/:playbackId/:rendition/:seq.:part.m4s', ...guard.rawBody('a part', maxSegmentBytes), counted, async (req, res) => {
    const playbackId = checkId(req.params.playbackId, 'playback id');
    const rendition = checkRendition(req.params.rendition);
    const seq = checkWhole(req.params['seq'], 'segment sequence');
    const part = checkWhole(req.params['part'], 'part index', MAX_PARTS_PER_SEGMENT);
    const meta = parsePartMetadata(req.headers);
    const bytes = req.body as Buffer;
    const signature = req.header(CONTENT_SIGNATURE_HEADER);
    await content.part('push', { playbackId, rendition, seq }, { part, ...meta }, bytes, signature);
    store.putPart(playbackId, rendition, seq, part, meta, bytes, partHeaders(meta, signature!));
    metrics.partsReceived.inc();
    res.status(201).end();
  });
  router.put('/hls/:playbackId/:rendition/:seq.m4s', ...guard.rawBody('a segment', maxSegmentBytes), counted, async (req, res) => {
    const playbackId = checkId(req.params.playbackId, 'playback id');
    const rendition = checkRendition(req.params.rendition);
    const seq = checkWhole(req.params['seq'], 'segment sequence');
    const meta = parseSegmentMetadata(req.headers);
    const bytes = req.body as Buffer;
    const signature = req.header(CONTENT_SIGNATURE_HEADER);
    await content.segment('push', { playbackId, rendition, seq }, meta, bytes, signature);
    if (!store.isLowLatency(playbackId, rendition)) throw new CastnetError('BAD_REQUEST', `rendition ${rendition} has no init segment: push init-<seq>.mp4 before CMAF segments`, { playbackId, rendition, seq });
    store.checkCmafSegment(playbackId, rendition, seq, bytes);
    store.putSegment(playbackId, rendition, seq, { ...meta, signature: signature! }, bytes);
    metrics.segmentsReceived.inc();
    res.status(201).end();
  });
  return router;
}
