// The broadcaster's side of `POST /transcode/live` (progressive transcoding): the source segment goes out as
// CMAF while it is ingested, and the renditions' frames come back while it is still being sent, over one
// full-duplex HTTP/1.1 exchange (node:http: fetch would not show the answer before the body is sent).
// Everything read from the transcoder is bounded: answer bytes in all, each frame (protocol/fragment-stream.ts),
// the time to accept and the time to finish. Hot path: one write per source fragment, one callback per frame.

import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { CastnetError } from '../protocol/errors.ts';
import { FRAGMENT_STREAM_TYPE, FrameDecoder, frameError, type Frame } from '../protocol/fragment-stream.ts';
import { failureFromNetwork, failureFromResponse } from '../protocol/http-failure.ts';
import { PARAMS_SPENT_HEADER, PAYMENT_HEADER } from '../protocol/payment.ts';
import { liveTranscodeHeaders, transcodeHeaders, type LiveTranscodeParams, type TranscodeParams } from '../protocol/transcode-request.ts';

export interface LiveTranscodeOptions {
  payment?: string;
  /** Each rendition's init segment and fragments, in the order the transcoder sent them. */
  onFrame: (frame: Frame) => void;
  /** From the request to the answer's last frame. */
  timeoutMs: number;
  /** The whole answer at most (init segments and fragments of every rendition). */
  maxAnswerBytes: number;
  signal?: AbortSignal;
}

export interface LiveTranscodeCall {
  /** Sends the next run of source boxes (the init segment first, then fragments); ignored once the call is over. */
  write(bytes: Buffer): void;
  /** The segment is complete. */
  end(): void;
  /** Resolves when the transcoder took the payment and began its answer; rejects with its refusal. */
  accepted: Promise<{ paramsSpent: boolean }>;
  /** Resolves at the answer's end frame; rejects on an error frame, a malformed or cut-off answer, or the timeout. */
  done: Promise<void>;
}

export function startLiveTranscode(transcoderUrl: string, params: TranscodeParams, live: LiveTranscodeParams, options: LiveTranscodeOptions): LiveTranscodeCall {
  const url = new URL('/transcode/live', transcoderUrl);
  const node = transcoderUrl;
  const context = { node, playbackId: params.playbackId, seq: params.seq };
  let settleAccepted!: { resolve: (v: { paramsSpent: boolean }) => void; reject: (err: unknown) => void };
  const accepted = new Promise<{ paramsSpent: boolean }>((resolve, reject) => (settleAccepted = { resolve, reject }));
  let settleDone!: { resolve: () => void; reject: (err: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (settleDone = { resolve, reject }));
  // Whoever awaits only one of them must not meet an unhandled rejection from the other.
  accepted.catch(() => {});
  done.catch(() => {});
  let over = false;
  let req: ClientRequest;
  const fail = (err: unknown) => {
    if (over) return;
    over = true;
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    settleAccepted.reject(err);
    settleDone.reject(err);
    req.destroy();
  };
  const timer = setTimeout(() => fail(new CastnetError('UPSTREAM_TIMEOUT', `progressive transcode: ${url.href} did not finish in ${Math.ceil(options.timeoutMs)} ms`, context)), Math.ceil(options.timeoutMs));
  const onAbort = () => fail(new CastnetError('UNAVAILABLE', 'progressive transcode abandoned', context));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  req = request(url, {
    method: 'POST',
    headers: { 'content-type': 'video/mp4', ...transcodeHeaders(params), ...liveTranscodeHeaders(live), ...(options.payment ? { [PAYMENT_HEADER]: options.payment } : {}) },
  });
  req.on('error', (err) => fail(err instanceof CastnetError ? err : failureFromNetwork(err, 'progressive transcode', url.href, node)));
  req.on('response', (res: IncomingMessage) => {
    if (res.statusCode !== 200) {
      const web = new Response(Readable.toWeb(res) as ReadableStream, { status: res.statusCode ?? 500, statusText: res.statusMessage ?? '' });
      void failureFromResponse(web, 'transcoder refused the segment', node).then(fail, fail);
      return;
    }
    if (!String(res.headers['content-type'] ?? '').startsWith(FRAGMENT_STREAM_TYPE)) {
      res.resume();
      return fail(new CastnetError('UPSTREAM_FAILED', `transcoder answered ${String(res.headers['content-type'] ?? 'no content type')}, not ${FRAGMENT_STREAM_TYPE}`, context));
    }
    settleAccepted.resolve({ paramsSpent: res.headers[PARAMS_SPENT_HEADER] === '1' });
    const decoder = new FrameDecoder(params.renditions.length, context);
    let received = 0;
    let ended = false;
    res.on('data', (chunk: Buffer) => {
      if (over) return;
      received += chunk.length;
      if (received > options.maxAnswerBytes) return fail(new CastnetError('INVALID_SEGMENT', `progressive answer over ${options.maxAnswerBytes} bytes`, context));
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        return fail(err);
      }
      for (const frame of frames) {
        if (frame.kind === 'error') return fail(frameError(frame.payload, context));
        if (frame.kind === 'end') {
          ended = true;
          continue;
        }
        try {
          options.onFrame(frame);
        } catch (err) {
          return fail(err);
        }
      }
    });
    res.on('end', () => {
      if (over) return;
      if (!ended) return fail(new CastnetError('UPSTREAM_FAILED', 'progressive answer cut off before its end frame', context));
      over = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      settleDone.resolve();
    });
    res.on('error', (err) => fail(failureFromNetwork(err, 'progressive transcode', url.href, node)));
  });
  req.flushHeaders();
  return {
    write: (bytes) => {
      if (!over && !req.writableEnded) req.write(bytes);
    },
    end: () => {
      if (!req.writableEnded) req.end();
    },
    accepted,
    done,
  };
}
