// The transcoder's typed events: what happened to each segment and each payment. The routes and the
// transcode service emit them on one bus; metrics (metrics.ts) and logs (event-log.ts) listen.

import { EventEmitter } from 'node:events';
import type { RedemptionResult } from '../settlement/redemption-queue.ts';
import type { VideoEncoder } from './ladder-command.ts';

export interface SegmentRef {
  playbackId?: string;
  seq?: number;
}

export interface TranscoderEvents {
  /** Refused before any FFmpeg work (bad request, bad segment, payment, capacity); `reason` is the error code. */
  rejected: [SegmentRef & { reason: string; err: unknown }];
  paymentAccepted: [{ tickets: number; winners: number; expectedValue: bigint; price: bigint }];
  /** `reason` as PAYMENT_REQUIRED carries it (missing, malformed, expired…). */
  paymentRefused: [{ reason: string }];
  /** A segment got a slot and goes to FFmpeg. */
  transcodeStarted: [SegmentRef & { bytes: number }];
  /** Every rendition came out; `seconds` is the wall time of the one FFmpeg job, `bytes` what is returned. */
  segmentTranscoded: [SegmentRef & { seconds: number; renditions: string[]; encoder: VideoEncoder; bytes: number }];
  /** FFmpeg failed, or produced nothing for a rendition; `reason` is the error code. */
  transcodeFailed: [SegmentRef & { reason: string; err: unknown }];
  /** A winning ticket's redemption attempt ended. */
  redemption: [RedemptionResult];
}

export class TranscoderEventBus extends EventEmitter<TranscoderEvents> {}
