// One segment's way through the transcoder once its request is validated, in an order that lets no one
// make it work for free and never takes a payment it then turns away: the payment's tickets are verified
// (signatures, sender's funds) before the segment is parsed; a slot is reserved before the payment is
// taken, so a full node answers 503 with the tickets unspent; then the segment is probed (bounded, see
// media/ts-probe.ts), priced, the payment taken, transcoded into every rendition, and answered as
// multipart/mixed. Each outcome is reported on the event bus. Hot path: one call per segment; rendition
// bytes are not copied.

import { probeTs, type MediaInfo } from '../media/ts-probe.ts';
import { CastnetError } from '../protocol/errors.ts';
import { encodeMultipart, newBoundary } from '../protocol/multipart.ts';
import { decodePayment } from '../protocol/payment.ts';
import { outputPixels } from '../protocol/pricing.ts';
import { TRANSCODE_HEADERS, type LiveTranscodeParams, type TranscodeParams } from '../protocol/transcode-request.ts';
import { runLiveLadder, transcodeLive, type LiveOutput, type LiveRunner } from './live-transcode.ts';
import type { AdmissionQueue } from './admission-queue.ts';
import type { VideoEncoder } from './ladder-command.ts';
import type { PaymentReceiver, VerifiedPayment } from '../settlement/payment-receiver.ts';
import { transcodeSegment, type LadderRunner, type TranscodedRendition } from './segment-transcoder.ts';
import type { TranscoderEventBus } from './transcoder-events.ts';
import { MAX_TARGET_DURATION_SECONDS } from '../protocol/stream-record.ts';

export interface TranscodeServiceOptions {
  encoder: VideoEncoder;
  payments: PaymentReceiver;
  admission: AdmissionQueue;
  /** Runs FFmpeg for one ladder job. */
  runner: LadderRunner;
  events: TranscoderEventBus;
  /** Reads duration and frame rate for the price; probeTs unless a test watches it. */
  probe?: (segment: Uint8Array) => MediaInfo;
  /** Runs FFmpeg for one progressive job (runLiveLadder unless a test or an attack script gives its own). */
  liveRunner?: LiveRunner;
}

/** A progressive transcode's input and what happens to its output. */
export interface LiveTranscodeIo {
  input: AsyncIterable<Buffer>;
  maxBytes: number;
  /** Payment taken and a slot held: the answer may begin (paramsSpent: the sender must fetch new ticket params). */
  accepted: (paramsSpent: boolean) => void;
  emit: (out: LiveOutput) => void;
}

/** The answer to `POST /transcode`: one multipart part per rendition. */
export interface TranscodeAnswer {
  boundary: string;
  chunks: Buffer[];
  length: number;
  /** A winning ticket revealed this ticket-params set: the sender must fetch new ones. */
  paramsSpent: boolean;
}

/**
 * FFmpeg's own time limit is only a backstop: the sender aborts a transcode it stopped waiting for (after
 * 4× the segment's duration), which kills the run. Four times the longest segment a relay accepts.
 */
const FFMPEG_BACKSTOP_SECONDS = 4 * MAX_TARGET_DURATION_SECONDS;

const codeOf = (err: unknown): string => (err instanceof CastnetError ? err.code : 'INTERNAL');

export class TranscodeService {
  private readonly options: TranscodeServiceOptions;
  /** Aborted by close(): every FFmpeg run in flight is killed, so none outlives the node. */
  private readonly closing = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(options: TranscodeServiceOptions) {
    this.options = options;
  }

  /** Kills the transcodes in flight and waits until their scratch files are gone. */
  async close(): Promise<void> {
    this.closing.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  /** `segment` is known to be whole MPEG-TS; `paymentHeader` is the Castnet-Payment header as received. */
  async transcode(params: TranscodeParams, segment: Buffer, paymentHeader: string | string[] | undefined, cancelled?: AbortSignal): Promise<TranscodeAnswer> {
    const { events } = this.options;
    const ref = { playbackId: params.playbackId, seq: params.seq };
    // Priced from the segment itself (its duration and frame rate), not from what the sender claims.
    const { release, paramsSpent } = await this.admitPaid(params, paymentHeader, () => (this.options.probe ?? probeTs)(segment), cancelled);
    try {
      events.emit('transcodeStarted', { ...ref, bytes: segment.length });
      const started = performance.now();
      let outputs: TranscodedRendition[];
      const signal = cancelled ? AbortSignal.any([this.closing.signal, cancelled]) : this.closing.signal;
      const run = transcodeSegment(
        { segment, renditions: params.renditions, copyAudio: params.sourceAudio === 'aac', sourceFps: params.sourceFps, context: ref },
        this.options.encoder,
        this.options.runner,
        FFMPEG_BACKSTOP_SECONDS,
        signal,
      );
      this.inFlight.add(run);
      try {
        outputs = await run;
      } catch (err) {
        events.emit('transcodeFailed', { ...ref, reason: codeOf(err), err });
        throw err;
      } finally {
        this.inFlight.delete(run);
      }
      const seconds = (performance.now() - started) / 1000;
      const boundary = newBoundary();
      const chunks = encodeMultipart(
        outputs.map((o) => ({ headers: { 'content-type': 'video/mp2t', [TRANSCODE_HEADERS.rendition]: o.spec.name }, body: o.bytes })),
        boundary,
      );
      const length = chunks.reduce((n, c) => n + c.length, 0);
      events.emit('segmentTranscoded', { ...ref, seconds, renditions: outputs.map((o) => o.spec.name), encoder: this.options.encoder, bytes: length });
      return { boundary, chunks, length, paramsSpent };
    } finally {
      release();
    }
  }

  /**
   * A progressive transcode: the same order as transcode() (tickets, then a slot, then the payment), priced
   * before the segment exists at `live.paidSeconds` with every rendition at its own frame rate (FFmpeg reads
   * no more input than was paid for), then the input is encoded as it arrives and each rendition's
   * fragments go to `io.emit` as FFmpeg writes them. Resolves when every rendition is complete.
   */
  async transcodeLive(params: TranscodeParams, live: LiveTranscodeParams, paymentHeader: string | string[] | undefined, io: LiveTranscodeIo, cancelled?: AbortSignal): Promise<void> {
    const { events } = this.options;
    const ref = { playbackId: params.playbackId, seq: params.seq };
    const { release, paramsSpent } = await this.admitPaid(params, paymentHeader, () => ({ duration: live.paidSeconds, fps: 0 }), cancelled);
    io.accepted(paramsSpent);
    let bytes = 0;
    const started = performance.now();
    events.emit('transcodeStarted', { ...ref, bytes: 0 });
    const signal = cancelled ? AbortSignal.any([this.closing.signal, cancelled]) : this.closing.signal;
    const job = { renditions: params.renditions, encoder: this.options.encoder, copyAudio: params.sourceAudio === 'aac', sourceFps: params.sourceFps, maxSeconds: live.paidSeconds, partTargetSeconds: live.partTarget, ...(live.keyframesAt ? { keyframesAt: live.keyframesAt } : {}) };
    const run = transcodeLive(
      { job, input: io.input, maxBytes: io.maxBytes, context: ref },
      (out) => {
        bytes += out.bytes.length;
        io.emit(out);
      },
      this.options.liveRunner ?? runLiveLadder,
      signal,
    );
    this.inFlight.add(run);
    try {
      await run;
    } catch (err) {
      events.emit('transcodeFailed', { ...ref, reason: codeOf(err), err });
      throw err;
    } finally {
      this.inFlight.delete(run);
      release();
    }
    events.emit('segmentTranscoded', { ...ref, seconds: (performance.now() - started) / 1000, renditions: params.renditions.map((r) => r.name), encoder: this.options.encoder, bytes });
  }

  /**
   * The order every transcode starts in: tickets first (an unpaid or forged request costs a header decode and
   * signature checks, no parsing), then a slot (a full node, or a sender that gave up in the queue, spends no
   * ticket), then the price (`priced`, read only now) and the payment. Refusals are reported on the bus.
   */
  private async admitPaid(params: TranscodeParams, paymentHeader: string | string[] | undefined, priced: () => { duration: number; fps: number }, cancelled?: AbortSignal): Promise<{ release: () => void; paramsSpent: boolean }> {
    const ref = { playbackId: params.playbackId, seq: params.seq };
    try {
      const verified = await this.verifyPayment(paymentHeader);
      const release = await this.options.admission.admit(ref, cancelled);
      try {
        return { release, paramsSpent: verified ? this.takePayment(params, priced(), verified) : false };
      } catch (err) {
        release();
        throw err;
      }
    } catch (err) {
      this.options.events.emit('rejected', { ...ref, reason: codeOf(err), err });
      throw err;
    }
  }

  /** The payment's tickets, checked against everything but the price; null on a free node, which asks for none. */
  private async verifyPayment(paymentHeader: string | string[] | undefined): Promise<VerifiedPayment | null> {
    const { payments } = this.options;
    if (payments.pricePerPixel === 0n) return null;
    try {
      return await payments.verify(decodePayment(paymentHeader));
    } catch (err) {
      throw this.reported(err);
    }
  }

  /** Prices the segment's output pixels and takes the verified payment for them; true when a winner spent the ticket params. */
  private takePayment(params: TranscodeParams, priced: { duration: number; fps: number }, verified: VerifiedPayment): boolean {
    const { payments, events } = this.options;
    const price = outputPixels(params.renditions, priced) * payments.pricePerPixel;
    let accepted;
    try {
      accepted = payments.redeem(verified, price);
    } catch (err) {
      throw this.reported(err);
    }
    events.emit('paymentAccepted', { ...accepted, price });
    return accepted.winners > 0;
  }

  /** Reports a payment refusal on the bus, and returns the error to throw. */
  private reported(err: unknown): unknown {
    if (err instanceof CastnetError && err.code === 'PAYMENT_REQUIRED') this.options.events.emit('paymentRefused', { reason: String(err.context.reason) });
    return err;
  }
}
