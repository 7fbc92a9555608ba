// The transcoder's HTTP routes: ticket parameters for senders, `POST /transcode`, whose request is
// validated here (headers, whole MPEG-TS body) before the transcode service spends any CPU on it, and
// `POST /transcode/live` (progressive: CMAF in while it is ingested, rendition fragments out as they are
// encoded; its headers are validated here, its body box by box in live-transcode.ts).

import express, { type Router } from 'express';
import type { HttpGuard } from '../http/http-limits.ts';
import { assertMpegTs } from '../media/mpegts.ts';
import { CastnetError } from '../protocol/errors.ts';
import { PARAMS_SPENT_HEADER, PAYMENT_HEADER } from '../protocol/payment.ts';
import { ticketParamsToJson } from '../protocol/ticket-params.ts';
import { parseLiveTranscodeHeaders, parseTranscodeHeaders, type LiveTranscodeParams, type TranscodeParams } from '../protocol/transcode-request.ts';
import { encodeFrame, errorFrame, FRAGMENT_STREAM_TYPE } from '../protocol/fragment-stream.ts';
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
  router.post('/transcode/live', async (req, res, next) => {
    let params: TranscodeParams | undefined;
    let live: LiveTranscodeParams;
    // Until the answer begins, a refusal closes the connection: the sender's body is not read to its end.
    const refuse = (err: unknown) => {
      events.emit('rejected', { playbackId: params?.playbackId, seq: params?.seq, reason: err instanceof CastnetError ? err.code : 'INTERNAL', err });
      res.set('connection', 'close');
      res.once('finish', () => req.socket.destroySoon());
      next(err);
    };
    try {
      params = parseTranscodeHeaders(req.headers);
      live = parseLiveTranscodeHeaders(req.headers);
      const context = { playbackId: params.playbackId, seq: params.seq };
      if (live.keyframesAt && live.keyframesAt.length !== params.renditions.length) throw new CastnetError('BAD_REQUEST', `${live.keyframesAt.length} resume points for ${params.renditions.length} renditions`, context);
      if (!/^video\/mp4\b/i.test(String(req.headers['content-type'] ?? ''))) throw new CastnetError('BAD_REQUEST', 'a progressive transcode takes CMAF: content-type video/mp4', context);
      const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']);
      if (declared !== null && declared > maxSegmentBytes) {
        guard.refused('body_too_large');
        throw new CastnetError('PAYLOAD_TOO_LARGE', `a segment may be at most ${maxSegmentBytes} bytes; content-length says ${declared}`, context);
      }
    } catch (err) {
      return refuse(err);
    }
    const gaveUp = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) gaveUp.abort();
    });
    try {
      await service.transcodeLive(params, live, req.headers[PAYMENT_HEADER], {
        input: req,
        maxBytes: maxSegmentBytes,
        accepted: (paramsSpent) => {
          res.writeHead(200, { 'content-type': FRAGMENT_STREAM_TYPE, 'cache-control': 'no-store', ...(paramsSpent ? { [PARAMS_SPENT_HEADER]: '1' } : {}) });
          res.flushHeaders();
        },
        emit: (out) => {
          for (const c of encodeFrame(out.rendition, out.kind, out.bytes)) res.write(c);
        },
      }, gaveUp.signal);
      for (const c of encodeFrame(0, 'end')) res.write(c);
      res.end();
    } catch (err) {
      if (!res.headersSent) return refuse(err);
      // The answer began: the failure is its last frame, in words for the sender (no paths, no peer URLs).
      const code = err instanceof CastnetError ? err.code : 'TRANSCODE_FAILED';
      const message = err instanceof CastnetError ? err.message : 'the transcode failed';
      if (!res.writableEnded && !res.destroyed) {
        for (const c of errorFrame(code, message)) res.write(c);
        res.end();
      }
      if (err instanceof CastnetError && err.code === 'PAYLOAD_TOO_LARGE') guard.refused('body_too_large');
      req.socket.destroySoon();
    }
  });
  return router;
}
