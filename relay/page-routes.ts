// The relay's viewer pages: the player bundle, the watch page and the embed page. HLS GETs are answered
// by the fast path in hls-handler.ts before Express.

import express, { type RequestHandler, type Router } from 'express';
import { playerBundle } from '../player/bundle.ts';
import { embedPage, watchPage } from '../player/pages.ts';
import type { RelayMetrics } from './metrics.ts';
import { checkId } from './route-params.ts';

export interface PageRoutesOptions {
  metrics: RelayMetrics;
  /** Where the pages find the relays serving a stream (failover), read per page (it may be learned later); null: none. */
  orchestrator: () => string | null;
}

export function pageRoutes({ metrics, orchestrator }: PageRoutesOptions): Router {
  const router = express.Router();
  const counted =
    (kind: string): RequestHandler =>
    (_req, res, next) => {
      res.once('finish', () => metrics.requests.inc({ kind, status: String(res.statusCode) }));
      next();
    };
  const relaysOf = (id: string) => {
    const base = orchestrator();
    return base === null ? undefined : { relaysUrl: `${base}/api/streams/${id}/relays`, directoryUrl: `${base}/api/streams/${id}` };
  };
  router.get('/player/castnet-player.js', counted('player'), async (_req, res, next) => {
    try {
      res.set({ 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=300' }).send(await playerBundle());
    } catch (err) {
      next(err);
    }
  });
  router.get('/watch/:playbackId', counted('page'), (req, res) => {
    const id = checkId(req.params.playbackId, 'playback id');
    res.type('html').send(watchPage(id, relaysOf(id)));
  });
  router.get('/embed/:playbackId', counted('page'), (req, res) => {
    // The embed page is made to be framed by any site.
    res.setHeader('content-security-policy', 'frame-ancestors *');
    const id = checkId(req.params.playbackId, 'playback id');
    res.type('html').send(embedPage(id, relaysOf(id)));
  });
  return router;
}
