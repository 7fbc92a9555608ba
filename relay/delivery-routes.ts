// The relay's delivery routes: `GET /delivery/<playbackId>` tells a player (or an edge) the address its
// receipts must name and the price; `POST /delivery/<playbackId>/receipts` takes one signed receipt
// (bounded body, rate-limited per source address with 429), checked and kept by delivery-earnings.ts.
// Open to browsers on any origin, as HLS is.

import express, { type Router } from 'express';
import type { HttpGuard } from '../http/http-limits.ts';
import { cors } from '../http/cors.ts';
import { CastnetError } from '../protocol/errors.ts';
import { parseRequest } from '../protocol/fields.ts';
import { MAX_RECEIPT_BODY_BYTES, signedReceiptSchema } from '../protocol/delivery-receipt.ts';
import { RateLimiter } from '../http/rate-limiter.ts';
import { sourceOf } from '../http/signed-writes.ts';
import type { DeliveryEarnings } from './delivery-earnings.ts';
import { checkId } from './route-params.ts';

/** A player sends a receipt every few seconds per relay; a page of several players, or a NAT, a few times that. */
export const RECEIPTS_PER_SECOND = 4;
export const RECEIPTS_BURST = 40;

export function deliveryRoutes(options: { earnings: DeliveryEarnings; guard: HttpGuard; now?: () => number }): Router {
  const router = express.Router();
  const limiter = new RateLimiter({ ratePerSecond: RECEIPTS_PER_SECOND, burst: RECEIPTS_BURST, ...(options.now ? { now: options.now } : {}) });
  router.use('/delivery', cors({ preflight: { methods: ['GET', 'POST', 'OPTIONS'], headers: ['content-type'], maxAgeSeconds: 86_400 } }));
  router.get('/delivery/:playbackId', (req, res) => {
    checkId(req.params.playbackId, 'playback id');
    res.set('cache-control', 'public, max-age=60').json({ relay: options.earnings.address, pricePerByte: options.earnings.pricePerByte.toString() });
  });
  router.post('/delivery/:playbackId/receipts', ...options.guard.jsonBody('a receipt', MAX_RECEIPT_BODY_BYTES), async (req, res) => {
    const playbackId = checkId(req.params.playbackId, 'playback id');
    if (!limiter.take(sourceOf(req))) throw new CastnetError('RATE_LIMITED', 'too many receipts from this address: one every few seconds per session is enough', { reason: 'receipt_rate' });
    await options.earnings.receive(playbackId, parseRequest(signedReceiptSchema, req.body, 'receipt'));
    res.status(204).end();
  });
  return router;
}
