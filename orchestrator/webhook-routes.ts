// The webhook side of the orchestrator's API: the delivery log (a public read, like the rest of /api: it
// shows no secret and no receiver's query string) and the recorder's report that a stream's recording is
// ready, a write signed by the stream's origin relay, the only node that records it.

import { Router } from 'express';
import { CastnetError } from '../protocol/errors.ts';
import { parseRequest } from '../protocol/fields.ts';
import { recordingReportSchema } from '../protocol/recording-report.ts';
import { signerOf } from '../http/signed-writes.ts';
import type { StreamLifecycle } from './stream-lifecycle.ts';
import type { WebhookQueue } from './webhook-queue.ts';
import type { Webhooks } from './webhooks.ts';

export function webhookRoutes(ctx: { queue: WebhookQueue; webhooks: Webhooks; lifecycle: StreamLifecycle }): Router {
  const router = Router();
  router.get('/webhooks/deliveries', (req, res) => {
    const playbackId = typeof req.query.playbackId === 'string' ? req.query.playbackId : undefined;
    const limit = typeof req.query.limit === 'string' ? Number(req.query.limit) : undefined;
    res.json(ctx.queue.deliveries({ ...(playbackId ? { playbackId } : {}), ...(limit !== undefined && Number.isInteger(limit) ? { limit } : {}) }));
  });
  router.get('/streams/:playbackId/webhooks', (req, res) => {
    res.json(ctx.queue.deliveries({ playbackId: req.params.playbackId }));
  });
  router.post('/streams/:playbackId/recording', (req, res) => {
    const signer = signerOf(res, 'a recording report');
    const playbackId = req.params.playbackId;
    const record = ctx.lifecycle.get(playbackId);
    if (!record) throw new CastnetError('STREAM_NOT_FOUND', 'no stream with this playback id', { playbackId });
    if (record.relay !== signer) throw new CastnetError('FORBIDDEN', `a recording report for ${playbackId} signed by ${signer}: only the stream's origin relay reports its recording`, { playbackId, reason: 'not_stream_relay' });
    const report = parseRequest(recordingReportSchema, req.body, 'recording report');
    ctx.lifecycle.setRecording(playbackId, report);
    ctx.webhooks.emit('recording.ready', playbackId, report);
    res.status(204).end();
  });
  return router;
}
