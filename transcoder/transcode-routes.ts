// The transcoder's HTTP routes: ticket parameters for senders, and `POST /transcode`, whose request is
// validated here (headers, whole MPEG-TS body) before the transcode service spends any CPU on it.

import express, { type Router } from 'express';
import type { HttpGuard } from '../http/http-limits.ts';
import { assertMpegTs } from '../media/mpegts.ts';
import { CastnetError } from '../protocol/errors.ts';
import { PARAMS_SPENT_HEADER, PAYMENT_HEADER } from '../protocol/payment.ts';
import { ticketParamsToJson } from '../protocol/ticket-params.ts';
import { parseTranscodeHeaders, type TranscodeParams } from '../protocol/transcode-request.ts';
import type { PaymentReceiver } from '../settlement/payment-receiver.ts';
import type { TranscodeService } from './transcode-service.ts';
import type { TranscoderEventBus } from './transcoder-events.ts';

export interface TranscodeRoutesOptions {
  service: TranscodeService;
  payments: PaymentReceiver;
  events: TranscoderEventBus;
  /** Bounds the segment body and counts what it refuses. */
  guard: HttpGuard;
  maxSegmentBytes: number;
}

export function transcodeRoutes({ service, payments, events, guard, maxSegmentBytes }: TranscodeRoutesOptions): Router {
  const router = express.Router();
  router.get('/ticket-params', (req, res) => {
    const sender = String(req.query.sender ?? '');
    if (!/^0x[0-9a-fA-F]{40}$/.test(sender)) throw new CastnetError('BAD_REQUEST', 'sender must be a 0x-prefixed 20-byte address');
    res.json(ticketParamsToJson(payments.ticketParams(sender)));
  });
  router.post('/transcode', ...guard.rawBody('a segment', maxSegmentBytes), async (req, res, next) => {
    let params: TranscodeParams | undefined;
    let segment: Buffer;
    try {
      params = parseTranscodeHeaders(req.headers);
      const context = { playbackId: params.playbackId, seq: params.seq };
      segment = req.body as Buffer;
      if (!Buffer.isBuffer(segment)) throw new CastnetError('INVALID_SEGMENT', 'segment body is missing', context);
      // Checked before any CPU is spent: a truncated or foreign body is refused, not transcoded.
      assertMpegTs(segment, context);
    } catch (err) {
      events.emit('rejected', { playbackId: params?.playbackId, seq: params?.seq, reason: err instanceof CastnetError ? err.code : 'INTERNAL', err });
      return next(err);
    }
    try {
      // A sender that gives up (hedged elsewhere, timed out) closes the request: its encode is killed.
      const gaveUp = new AbortController();
      res.once('close', () => {
        if (!res.writableFinished) gaveUp.abort();
      });
      const answer = await service.transcode(params, segment, req.headers[PAYMENT_HEADER], gaveUp.signal);
      res.writeHead(200, {
        'content-type': `multipart/mixed; boundary=${answer.boundary}`,
        'content-length': answer.length,
        ...(answer.paramsSpent ? { [PARAMS_SPENT_HEADER]: '1' } : {}),
      });
      for (const c of answer.chunks) res.write(c);
      res.end();
    } catch (err) {
      next(err);
    }
  });
  return router;
}
