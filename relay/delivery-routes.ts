// The relay's delivery routes: `GET /delivery/<playbackId>` tells a player (or an edge) the address its
// receipts must name and the price; `POST /delivery/<playbackId>/receipts` takes one signed receipt
// (bounded body, rate-limited per source address with 429), checked and kept by delivery-earnings.ts
// through receipt-intake.ts. Players and edges send receipts on their segment requests instead (the
// `castnet-receipt` parameter, hls-handler.ts); this route stays for a last receipt on leaving, for
// receipts no segment request took, and for older players. Open to browsers on any origin, as HLS is.

import express, { type Router } from 'express';
import type { HttpGuard } from '../http/http-limits.ts';
import { cors } from '../http/cors.ts';
import { MAX_RECEIPT_BODY_BYTES } from '../protocol/delivery-receipt.ts';
import { sourceOf } from '../http/signed-writes.ts';
import type { DeliveryEarnings } from './delivery-earnings.ts';
import type { ReceiptIntake } from './receipt-intake.ts';
import { checkId } from './route-params.ts';

export function deliveryRoutes(options: { earnings: DeliveryEarnings; intake: ReceiptIntake; guard: HttpGuard }): Router {
  const router = express.Router();
  router.use('/delivery', cors({ preflight: { methods: ['GET', 'POST', 'OPTIONS'], headers: ['content-type'], maxAgeSeconds: 86_400 } }));
  router.get('/delivery/:playbackId', (req, res) => {
    checkId(req.params.playbackId, 'playback id');
    res.set('cache-control', 'public, max-age=60').json({ relay: options.earnings.address, pricePerByte: options.earnings.pricePerByte.toString() });
  });
  router.post('/delivery/:playbackId/receipts', ...options.guard.jsonBody('a receipt', MAX_RECEIPT_BODY_BYTES), async (req, res) => {
    await options.intake.posted(checkId(req.params.playbackId, 'playback id'), sourceOf(req), req.body);
    res.status(204).end();
  });
  return router;
}
