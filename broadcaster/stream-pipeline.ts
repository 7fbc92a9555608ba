// Everything that happens to one stream's segments after ingest: fit the ladder to the probed source,
// publish the source rendition to the relay at once, send the segment to the transcoders (hedged, rotated,
// paid), check what comes back, and publish the renditions. Lives across reconnects with the same stream
// key, so sequence numbers continue and the first segment after a reconnect is marked as a discontinuity.
// It reads the stream's assignment from its StreamSession and asks the session to reassign; it reports what
// happens as typed events (metrics.ts and stream-log.ts listen). Segments are as long as the source's
// keyframe interval makes them (see segment-cutter.ts), so every deadline here scales with the segment's
// duration. A source browsers cannot play is not published as is: a full-resolution rung replaces it. What
// the streamer should change is reported once per publication as a warning, carried to the orchestrator's
// directory by the session. Hot path: runs per segment.

import { EventEmitter } from 'node:events';
import type { SignedPlaybackPolicy } from '../protocol/playback-policy.ts';
import { unplayableInBrowsers } from '../media/browser-support.ts';
import { avcCodecString, avcLevelFor } from '../media/codec-string.ts';
import { probeTs, type MediaInfo } from '../media/ts-probe.ts';
import { CastnetError } from '../protocol/errors.ts';
import { identityFromPrivateKey, type Identity } from '../protocol/identity.ts';
import { signSegmentBytes } from '../protocol/segment-signing.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { outputPixels } from '../protocol/pricing.ts';
import { SOURCE_RENDITION, fitLadder, type RenditionSpec } from '../protocol/rendition.ts';
import { RENDITION_LAG_SEGMENTS, segmentMetadataHeaders, type SegmentMetadata } from '../protocol/segment-metadata.ts';
import { sha256 } from '../protocol/segment-signing.ts';
import { fragmentTiming, fragmentTimingOrNull, initIdentity, initVideoSize, parseInit, type Fmp4Track } from '../media/fmp4.ts';
import type { Frame } from '../protocol/fragment-stream.ts';
import { startLiveTranscode } from './live-transcode-client.ts';
import { ProgressiveTranscodes, RenditionCollector } from './progressive-transcodes.ts';
import { signInit, signPart } from '../protocol/part-signature.ts';
import { initHeaders, partHeaders, type PartMetadata } from '../protocol/part-metadata.ts';
import { CONTENT_SIGNATURE_HEADER } from '../protocol/content-signature.ts';
import type { StreamDescriptor, StreamWarning, Variant } from '../protocol/stream-record.ts';
import { RelayClient, TranscoderClient } from './node-clients.ts';
import type { PaymentSender } from './payment-sender.ts';
import { checkCmafRendition, checkRendition, type CmafRendition } from './rendition-check.ts';
import { VERIFY_FIRST_SEGMENTS, type OutputVerifier, type Verdict } from './output-verifier.ts';
import type { StreamSession } from './stream-session.ts';
import { KeyframeCadence, unplayableSourceWarning } from './stream-warnings.ts';
import { systemTimers, type Timers } from './timers.ts';

/** 402 reasons that fresh ticket parameters cure. */
const STALE_PARAMS = new Set(['expired', 'invalid_params', 'params_revealed', 'replayed_nonce', 'wrong_recipient']);

/** A transcode must come back within this many segment durations, or the stream falls behind live. */
const TRANSCODE_TIMEOUT_DURATIONS = 4;
const MIN_TRANSCODE_TIMEOUT_MS = 10_000;
/** A transcoder that has not answered within this many segment durations gets company: the next one too. */
const HEDGE_DURATIONS = 2;
const MIN_HEDGE_MS = 1_000;
/** Transcoders a segment is tried on when their output fails verification, before its renditions are given up. */
const MAX_VERIFIED_ATTEMPTS = 3;
/**
 * Source segments waiting for the relay beyond this are skipped (the relay shows them as gaps where the
 * renditions arrive) so a slow relay cannot build a backlog, and the relay is reported as failing: sustained
 * slowness is a failure, and the session moves the stream to another relay.
 */
export const MAX_PUBLISH_BACKLOG = 3;
/** Parts waiting for the relay beyond this are skipped (about 2 s of 0.33 s parts). */
const MAX_PART_BACKLOG = 6;
/**
 * A progressive transcode is paid before its segment exists: for this share of the longest segment seen
 * (at least the target duration), plus PAID_SLACK_S; the transcoder reads no more source than that.
 */
const PAID_SHARE = 1.25;
/** A transcoder whose progressive transcode failed gets no new segment's for this long (the session reassigns meanwhile). */
const PROGRESSIVE_FAILURE_MS = 10_000;
/** Parts shorter than this share of PART-TARGET may only end a segment (RFC 8216bis §4.4.4.9). */
const SHORT_PART_SHARE = 0.85;
const PAID_SLACK_S = 0.1;
/** The most a progressive answer may hold (every rendition's fragments of one segment). */
const LIVE_ANSWER_LIMIT = 64 * 1024 * 1024;
/** The most a descriptor may announce (protocol/stream-record.ts). */
const MAX_TARGET_DURATION_S = 60;

/** Whole milliseconds (timers and AbortSignal.timeout want integers) for `durations` segment durations. */
export function durationsMs(durationS: number, durations: number, minMs: number): number {
  return Math.max(minMs, Math.ceil(durationS * durations * 1_000));
}

export interface PipelineSegment {
  bytes: Buffer;
  duration: number;
  programDateTime: string;
  /** Wall-clock ms when the segment was complete at ingest. */
  completedAt: number;
  /** Low latency: the segment as CMAF fragments, whose parts were published already; `bytes` is its MPEG-TS remux for transcoders. */
  cmaf?: Buffer;
  /** Low latency: the source init segment the CMAF fragments need. */
  cmafInit?: Buffer;
}

/** Why a segment's renditions were not published (the `reason` label of transcode failures). */
export type TranscodeFailureReason = 'backlog' | 'late' | 'no_transcoder' | 'payment_refused' | 'transcoder_error' | 'unprobeable';

export interface StreamPipelineEvents {
  segmentIngested: [{ seq: number; duration: number; bytes: number }];
  sourceProbed: [{ info: MediaInfo; ladder: RenditionSpec[] }];
  segmentPublished: [{ rendition: string; seq: number; latencyS: number; bytes: number }];
  /** A segment the relay did not take (or that was skipped behind a slow one: `backlog`); `relay` is null when none was assigned. */
  publishFailed: [{ rendition: string; seq: number; relay: string | null; err?: unknown; backlog?: number }];
  /** One failure on the way to a segment's renditions; a transcoder's failure may still be followed by another's success. */
  transcodeFailed: [{ seq: number; reason: TranscodeFailureReason; transcoder?: string; paymentReason?: string; backlog?: number; err?: unknown }];
  /** A transcoder answered; renditions are checked next. */
  transcoded: [{ seq: number; transcoder: string }];
  /** No transcoder could take the segment: its renditions are gaps. `why`: what each transcoder tried answered. */
  transcodeAbandoned: [{ seq: number; why: string }];
  /** One rendition of a transcoder's answer failed the check. */
  outputRejected: [{ seq: number; rendition: string; transcoder: string; err: unknown }];
  /** A sampled answer was compared with the source (output-verifier.ts): every rendition passed, or not. */
  outputVerified: [{ seq: number; transcoder: string; passed: boolean; verdicts: Verdict[]; ms: number }];
  paymentRefused: [{ seq: number; transcoder: string; reason: string; retrying: boolean }];
  ticketsSent: [{ transcoder: string; tickets: number; expectedValue: bigint }];
  /** Something the streamer should change; once per code per publication. */
  warning: [StreamWarning];
  /** A transcoder passed its deadline: the segment goes to another as well. */
  hedged: [{ seq: number; transcoder: string; deadlineMs: number }];
  /** Low latency: a part reached the relay (`latencyMs` from its ingest), or did not. */
  partPublished: [{ rendition: string; seq: number; part: number; latencyMs: number; bytes: number }];
  /**
   * A part did not reach the relay: `backlog` (skipped behind a slow relay), `no_relay`, `refused` (the push
   * failed), or `after_missing` (an earlier part of its segment is missing, so the relay would refuse it as out
   * of order). The segment follows whole; the relay lists it without parts (relay/part-window.ts).
   */
  partFailed: [{ rendition: string; seq: number; part: number; relay: string | null; reason: PartFailure; err?: unknown; backlog?: number }];
  /** The init segment could not be pushed when it was cut; the next part tries again. */
  initFailed: [{ rendition: string; seq: number; relay: string; err: unknown }];
}

export type PartFailure = 'backlog' | 'no_relay' | 'refused' | 'after_missing';

export interface StreamPipelineOptions {
  playbackId: string;
  segmentSeconds: number;
  ladderRungs: ReadonlyArray<{ height: number; fps: number; videoBitrate: number; audioBitrate: number }>;
  /** Transcodes waiting beyond this are skipped (their renditions show as gaps) so the stream stays live. */
  maxTranscodeBacklog: number;
  /**
   * The first sequence number: above 0 for a stream that was live before (sequence-reservations.ts), whose
   * first segment then starts with a discontinuity.
   */
  firstSeq?: number;
  /** Who may watch, signed by the publisher key; it rides in the descriptor to the origin. */
  playbackPolicy?: SignedPlaybackPolicy;
  /** False: the stream key asks the origin to keep no recording. */
  record?: boolean;
  /**
   * Low latency: renditions are CMAF with parts too, transcoded progressively (POST /transcode/live) while
   * their segment is ingested; false keeps MPEG-TS renditions, transcoded once their segment is whole.
   */
  cmafRenditions?: boolean;
}

export interface StreamPipelineComponents {
  /** The owner of the stream's assignment. */
  session: StreamSession;
  /** Pays transcoders with tickets; null sends no payment. */
  payments: PaymentSender | null;
  transcoders?: TranscoderClient;
  relays?: RelayClient;
  /** Compares sampled transcoder output with the source before it is published; null publishes after the cheap checks only. */
  verifier?: OutputVerifier | null;
  /**
   * The stream's publisher key: it signs the descriptor and every segment it publishes (source, and each
   * rendition once it passed its checks), so signatures are always the publisher's. A throwaway key when
   * none is given (tests whose relay binds the first key it sees).
   */
  publisher?: Identity;
  timers?: Timers;
  /** Told each sequence number used, so the next ones can be reserved. */
  onSequence?: (seq: number) => void;
}

type Transcoded = { renditions: Map<string, Buffer>; transcoder: string };

/** One rendition of a segment's progressive answers as it goes out in parts. */
interface LivePartLane {
  /** The transcoder whose fragments go out: the segment's first, or a stand-in continuing its parts. */
  from: string;
  tracks: Fmp4Track[] | null;
  next: number;
  /** A fragment failed its check: nothing more of this segment goes out early. */
  stopped: boolean;
  /** Short fragments waiting to be joined with the next (only a segment's last part may be short). */
  held: { bytes: Buffer[]; duration: number; independent: boolean; frames: number; end: number } | null;
  /** Frames that went out as parts, and where the last of them ends (seconds on the media timeline). */
  frames: number;
  end: number;
  /** A stand-in's fragments ending by this time repeat parts that went out: skipped; its next must start here with a keyframe. */
  resumeAt: number | null;
}

/** One CMAF rendition's way to the relay (see the low-latency section). */
interface CmafLane {
  chain: Promise<void>;
  /** Parts waiting on the chain. */
  backlog: number;
  /** The init segment in force, from `seq` on; `identity` is what decoding depends on (media/fmp4.ts). */
  init: { seq: number; bytes: Buffer; identity: Buffer } | null;
  initPushedTo: string | null;
  /** The newest part that did not reach the relay: the later parts of its segment are not sent. */
  missing: { seq: number; part: number };
}

export class StreamPipeline extends EventEmitter<StreamPipelineEvents> {
  readonly playbackId: string;
  readonly session: StreamSession;
  source: MediaInfo | null = null;
  /** Whether browsers can play the source as is; when not, it is neither advertised nor published. */
  sourcePlayable = true;
  ladder: RenditionSpec[] = [];
  /** This publication's warnings, in the order they were found. */
  warnings: StreamWarning[] = [];
  private cadence: KeyframeCadence;
  private nextSeq: number;
  private readonly firstSeq: number;
  private readonly onSequence: ((seq: number) => void) | undefined;
  private discontinuityPending = false;
  private sourceChain: Promise<void> = Promise.resolve();
  private transcodeChain: Promise<void> = Promise.resolve();
  private transcodeBacklog = 0;
  private publishBacklog = 0;
  private descriptorPushedTo: string | null = null;
  private readonly options: StreamPipelineOptions;
  private readonly payments: PaymentSender | null;
  private readonly transcoders: TranscoderClient;
  private readonly relays: RelayClient;
  readonly publisher: Identity;
  private readonly verifier: OutputVerifier | null;
  /** Transcoders whose output failed verification: never sent this stream's segments again. */
  private readonly failedVerification = new Set<string>();
  private readonly timers: Timers;
  /** Low latency: the stream's PART-TARGET, from the cutter's init segment. */
  private partTarget: number | null = null;
  /** Low latency with CMAF renditions: the progressive transcodes of segments being ingested; null otherwise. */
  private readonly progressive: ProgressiveTranscodes | null = null;

  constructor(options: StreamPipelineOptions, components: StreamPipelineComponents) {
    super();
    this.options = options;
    this.playbackId = options.playbackId;
    this.session = components.session;
    this.payments = components.payments;
    this.transcoders = components.transcoders ?? new TranscoderClient();
    this.relays = components.relays ?? new RelayClient();
    this.publisher = components.publisher ?? identityFromPrivateKey(secp256k1.utils.randomSecretKey());
    this.verifier = components.verifier ?? null;
    this.timers = components.timers ?? systemTimers;
    this.cadence = new KeyframeCadence(options.segmentSeconds);
    this.firstSeq = options.firstSeq ?? 0;
    this.nextSeq = this.firstSeq;
    this.onSequence = components.onSequence;
    if (options.cmafRenditions) {
      this.progressive = new ProgressiveTranscodes({
        choose: (seq, avoid) => this.progressiveChoice(seq, avoid),
        failed: (seq, url, err) => this.progressiveFailed(seq, url, err),
        open: (url, seq, ladder, onFrame, signal, keyframesAt) => this.openLiveTranscode(url, seq, ladder, this.paidSecondsEstimate(), onFrame, signal, keyframesAt),
        frame: (seq, url, ladder, frame) => this.progressiveFrame(seq, url, ladder, frame),
        resumePoints: (seq, ladder) => this.resumePoints(seq, ladder),
        done: (seq, url) => this.progressiveDone(seq, url),
      });
    }
  }

  get segmentsPublished(): number {
    return this.nextSeq - this.firstSeq;
  }

  /** A new publication began (first, or after a reconnect); returns the sequence number of its first segment. */
  beginPublication(): number {
    this.discontinuityPending = this.nextSeq > 0;
    for (const lane of this.lanes.values()) lane.init = null;
    this.llDiscontinuity = this.nextSeq > 0 ? this.nextSeq : -1;
    this.source = null;
    this.warnings = [];
    this.cadence = new KeyframeCadence(this.options.segmentSeconds);
    return this.nextSeq;
  }

  /** The first segment's probe of each publication fixes the ladder, the relay's descriptor and the session's renditions. */
  setSource(info: MediaInfo): void {
    const unplayable = unplayableInBrowsers(info);
    this.source = info;
    this.sourcePlayable = unplayable === null;
    this.ladder = fitLadder(info, this.options.ladderRungs, { fullResolution: !this.sourcePlayable });
    this.descriptorPushedTo = null;
    this.emit('sourceProbed', { info, ladder: this.ladder });
    const offered = this.ladder.map((r) => ({ name: r.name, width: r.width, height: r.height }));
    this.session.describe({ renditions: this.sourcePlayable ? [{ name: SOURCE_RENDITION, width: info.width, height: info.height }, ...offered] : offered });
    if (unplayable !== null) {
      const replacement = this.ladder.find((r) => r.height === Math.floor(info.height / 2) * 2);
      this.warn(unplayableSourceWarning(unplayable, replacement?.name ?? null));
    }
    this.session.refresh();
  }

  /** Records a warning the first time its code comes up in this publication, and tells the orchestrator. */
  private warn(warning: StreamWarning): void {
    if (this.warnings.some((w) => w.code === warning.code)) return;
    this.warnings = [...this.warnings, warning];
    this.emit('warning', warning);
    this.session.describe({ warnings: this.warnings });
    this.session.refresh();
  }

  descriptor(): StreamDescriptor {
    const info = this.source!;
    const audioCodecs = info.codecs.split(',').filter((c) => c.startsWith('mp4a') || c === 'ac-3');
    const renditionAudio = info.audioCodec === 'aac' ? audioCodecs : info.audioCodec ? ['mp4a.40.2'] : [];
    const variants: Variant[] = [
      ...(this.sourcePlayable
        ? [{ name: SOURCE_RENDITION, width: info.width, height: info.height, bandwidth: Math.max(1, Math.round(info.bitrate * 1.2)), codecs: info.codecs, frameRate: info.fps }]
        : []),
      ...this.ladder.map((r) => {
        const fps = Math.min(r.fps, info.fps || r.fps);
        return {
          name: r.name,
          width: r.width,
          height: r.height,
          bandwidth: Math.round(r.videoBitrate * 1.1 + r.audioBitrate),
          codecs: [avcCodecString('High', avcLevelFor(r.width, r.height, fps)), ...renditionAudio].join(','),
          frameRate: fps,
        };
      }),
    ];
    // The first segment's length is the source's keyframe cadence: the playlists start with a target duration
    // that fits it, rather than one that grows (the relay still raises it for any longer segment).
    const targetDuration = Math.min(MAX_TARGET_DURATION_S, Math.max(this.options.segmentSeconds, Math.round(info.duration)));
    return { playbackId: this.playbackId, variants, targetDuration, ...(this.options.playbackPolicy ? { playbackPolicy: this.options.playbackPolicy } : {}), ...(this.options.record === false ? { record: false } : {}) };
  }

  /**
   * Takes one ingested segment; returns its sequence number. Never throws: failures are reported as events.
   * `at`: its sequence number when it was fixed before it was complete (low latency: its parts went out first).
   */
  push(segment: PipelineSegment, at?: number): number {
    const seq = at ?? this.nextSeq;
    this.nextSeq = Math.max(this.nextSeq, seq + 1);
    this.onSequence?.(seq);
    const meta: SegmentMetadata = { duration: segment.duration, programDateTime: segment.programDateTime, discontinuity: this.discontinuityPending };
    this.discontinuityPending = false;
    this.emit('segmentIngested', { seq, duration: segment.duration, bytes: segment.bytes.length });
    this.longestSegment = Math.max(segment.duration, this.longestSegment * 0.9);
    const cadence = this.cadence.add(segment.duration, this.source?.fps ?? 0);
    if (cadence) this.warn(cadence);
    // A low-latency source went out as parts and a CMAF segment already (closeCmafSegment).
    if (this.sourcePlayable && !segment.cmaf) {
      if (this.publishBacklog >= MAX_PUBLISH_BACKLOG) {
        const relay = this.session.assignment?.relay.url ?? null;
        this.emit('publishFailed', { rendition: SOURCE_RENDITION, seq, relay, backlog: this.publishBacklog });
        if (relay) this.session.reassign([relay], 'publish_failed');
      } else {
        this.publishBacklog++;
        this.sourceChain = this.sourceChain.then(() => this.publish(SOURCE_RENDITION, seq, meta, segment)).finally(() => this.publishBacklog--);
      }
    }
    if (this.ladder.length > 0) {
      if (this.transcodeBacklog >= this.options.maxTranscodeBacklog) {
        this.emit('transcodeFailed', { seq, reason: 'backlog', backlog: this.transcodeBacklog });
      } else {
        this.transcodeBacklog++;
        this.transcodeChain = this.transcodeChain.then(() => this.transcode(seq, meta, segment)).finally(() => this.transcodeBacklog--);
      }
    }
    return seq;
  }

  /** Resolves once every segment pushed so far has been published or given up on. */
  async drain(): Promise<void> {
    await Promise.all([this.sourceChain, this.transcodeChain, this.llChain]);
  }

  // ---- Low latency (LL-HLS over CMAF): init segments and parts go to the relay as they exist. ----
  // Each CMAF rendition has a lane (the source's, and with progressive transcoding each rung's): its init
  // segment, its parts in order behind each other, and its complete segments behind its parts.

  private readonly lanes = new Map<string, CmafLane>();
  /** The first segment of a publication after another: its CMAF segment is marked a discontinuity. */
  private llDiscontinuity = -1;

  private lane(rendition: string): CmafLane {
    let lane = this.lanes.get(rendition);
    if (!lane) this.lanes.set(rendition, (lane = { chain: Promise.resolve(), backlog: 0, init: null, initPushedTo: null, missing: { seq: -1, part: 0 } }));
    return lane;
  }

  /** Every lane's chain (drain() waits for them all). */
  private get llChain(): Promise<void> {
    return Promise.all([...this.lanes.values()].map((l) => l.chain)).then(() => undefined);
  }

  /**
   * A low-latency source segment is complete: it goes to the relay at once, behind its parts (its MPEG-TS
   * remux for the transcoders follows through push()). Skipped behind a slow relay like any source segment.
   */
  closeCmafSegment(seq: number, segment: { duration: number; programDateTime: string; completedAt: number }, bytes: Buffer): void {
    this.progressive?.sourceComplete(seq);
    if (!this.sourcePlayable) return;
    const meta: SegmentMetadata = { duration: segment.duration, programDateTime: segment.programDateTime, discontinuity: seq === this.llDiscontinuity };
    if (this.publishBacklog >= MAX_PUBLISH_BACKLOG) {
      const relay = this.session.assignment?.relay.url ?? null;
      this.emit('publishFailed', { rendition: SOURCE_RENDITION, seq, relay, backlog: this.publishBacklog });
      if (relay) this.session.reassign([relay], 'publish_failed');
      return;
    }
    this.publishBacklog++;
    const lane = this.lane(SOURCE_RENDITION);
    lane.chain = lane.chain.then(() => this.publishCmafSegment(SOURCE_RENDITION, seq, meta, bytes, segment.completedAt)).finally(() => this.publishBacklog--);
  }

  /**
   * The publication's init segment (EXT-X-MAP) for its segments from `seq` on. It goes to the relay at once,
   * while FFmpeg cuts the first part: the relay's first checks of a stream (its publisher key from the
   * directory) then overlap the cutting instead of delaying the first part.
   */
  publishInit(seq: number, bytes: Buffer, partTarget: number): void {
    this.partTarget = partTarget;
    this.progressive?.sourceInit(bytes);
    try {
      this.sourceTracks = parseInit(bytes);
    } catch {
      this.sourceTracks = null;
    }
    this.setInit(SOURCE_RENDITION, seq, bytes);
    if (!this.sourcePlayable) return;
    const lane = this.lane(SOURCE_RENDITION);
    lane.chain = lane.chain.then(async () => {
      const relay = this.session.assignment?.relay;
      if (!relay) return;
      try {
        await this.ensureInit(SOURCE_RENDITION, relay.url);
      } catch (err) {
        this.emit('initFailed', { rendition: SOURCE_RENDITION, seq, relay: relay.url, err });
      }
    });
  }

  /**
   * A rendition's init segment for its segments from `seq` on, unless the one it has already serves them: an
   * init that differs only in bitrate fields (FFmpeg's estimates, media/fmp4.ts initIdentity) plays the same
   * fragments, so renditions from different transcoders keep one EXT-X-MAP; any other change gets a new one
   * (`init-<seq>.mp4`, and the relay writes EXT-X-MAP where it changes).
   */
  private setInit(rendition: string, seq: number, bytes: Buffer): void {
    const lane = this.lane(rendition);
    const identity = initIdentity(bytes);
    if (lane.init && lane.init.identity.equals(identity)) return;
    lane.init = { seq, bytes, identity };
    lane.initPushedTo = null;
  }

  private async ensureInit(rendition: string, relayUrl: string): Promise<void> {
    const lane = this.lane(rendition);
    const init = lane.init;
    if (!init || lane.initPushedTo === relayUrl || this.partTarget === null) return;
    const signature = signInit({ playbackId: this.playbackId, rendition, seq: init.seq, partTarget: this.partTarget, sha256: sha256(init.bytes) }, this.publisher.privateKey);
    await this.relays.pushCmaf(relayUrl, this.playbackId, rendition, `init-${init.seq}.mp4`, initHeaders(this.partTarget, signature), init.bytes);
    if (lane.init === init) lane.initPushedTo = relayUrl;
  }

  private partFailed(rendition: string, seq: number, part: number, reason: PartFailure, relay: string | null, extra: { err?: unknown; backlog?: number } = {}): void {
    // The relay takes a segment's parts in order only: after a hole, what follows would be refused.
    const lane = this.lane(rendition);
    if (seq > lane.missing.seq || (seq === lane.missing.seq && part < lane.missing.part)) lane.missing = { seq, part };
    this.emit('partFailed', { rendition, seq, part, relay, reason, ...extra });
  }

  /**
   * One part of the source, pushed in order behind the ones before it (and handed to a progressive transcode).
   */
  publishPart(seq: number, part: number, meta: PartMetadata, bytes: Buffer): void {
    if (part === 0 && this.progressive && this.sourceTracks) {
      const timing = fragmentTimingOrNull(bytes, this.sourceTracks);
      if (timing) this.sourceStarts.set(seq, timing.start);
      for (const old of this.sourceStarts.keys()) if (old < seq - 8) this.sourceStarts.delete(old);
    }
    this.progressive?.sourcePart(seq, part, bytes);
    if (!this.sourcePlayable) return;
    this.pushPart(SOURCE_RENDITION, seq, part, meta, bytes, this.timers.now());
  }

  /**
   * One part of a rendition, pushed in order behind the ones before it. Parts waiting beyond the bound are
   * skipped (players get them with the whole segment): a slow relay cannot build a backlog of parts. Once a
   * part of a segment is missing, the rest of that segment's parts are not sent: a segment's parts at the
   * relay are always a run from its first, and the relay lists them only when they add up to the segment.
   */
  private pushPart(rendition: string, seq: number, part: number, meta: PartMetadata, bytes: Buffer, ingestedAt: number): void {
    const lane = this.lane(rendition);
    if (lane.backlog >= MAX_PART_BACKLOG) {
      this.partFailed(rendition, seq, part, 'backlog', this.session.assignment?.relay.url ?? null, { backlog: lane.backlog });
      return;
    }
    lane.backlog++;
    lane.chain = lane.chain
      .then(async () => {
        const relay = this.session.assignment?.relay;
        if (lane.missing.seq === seq && part > lane.missing.part) return this.partFailed(rendition, seq, part, 'after_missing', relay?.url ?? null);
        if (!relay) return this.partFailed(rendition, seq, part, 'no_relay', null);
        try {
          await this.ensureInit(rendition, relay.url);
          const signature = signPart({ playbackId: this.playbackId, rendition, seq, part, ...meta, sha256: sha256(bytes) }, this.publisher.privateKey);
          await this.relays.pushCmaf(relay.url, this.playbackId, rendition, `${seq}.${part}.m4s`, partHeaders(meta, signature), bytes);
          this.emit('partPublished', { rendition, seq, part, latencyMs: this.timers.now() - ingestedAt, bytes: bytes.length });
        } catch (err) {
          // One refused part is no reason to move the stream: the whole segment follows, and its failure is.
          this.partFailed(rendition, seq, part, 'refused', relay.url, { err });
        }
      })
      .finally(() => lane.backlog--);
  }

  private async publishCmafSegment(rendition: string, seq: number, meta: SegmentMetadata, bytes: Buffer, completedAt: number): Promise<void> {
    const relay = this.session.assignment?.relay;
    if (!relay) {
      this.emit('publishFailed', { rendition, seq, relay: null });
      return;
    }
    try {
      // The descriptor needs the probed source (the first segment's remux): until then the segment goes without.
      await this.ensureDescriptor(relay.url);
      await this.ensureInit(rendition, relay.url);
      const signature = signSegmentBytes(this.publisher.privateKey, { playbackId: this.playbackId, rendition, seq }, meta, bytes);
      await this.relays.pushCmaf(relay.url, this.playbackId, rendition, `${seq}.m4s`, { ...segmentMetadataHeaders(meta), [CONTENT_SIGNATURE_HEADER]: signature }, bytes);
      this.emit('segmentPublished', { rendition, seq, latencyS: (this.timers.now() - completedAt) / 1000, bytes: bytes.length });
    } catch (err) {
      this.emit('publishFailed', { rendition, seq, relay: relay.url, err });
      this.session.reassign([relay.url], 'publish_failed');
    }
  }

  private async ensureDescriptor(relayUrl: string): Promise<void> {
    if (this.descriptorPushedTo === relayUrl || !this.source) return;
    await this.relays.pushDescriptor(relayUrl, this.descriptor(), this.publisher);
    this.descriptorPushedTo = relayUrl;
  }

  private async publish(rendition: string, seq: number, meta: SegmentMetadata, segment: Pick<PipelineSegment, 'bytes' | 'completedAt'>): Promise<void> {
    const relay = this.session.assignment?.relay;
    if (!relay) {
      this.emit('publishFailed', { rendition, seq, relay: null });
      return;
    }
    try {
      await this.ensureDescriptor(relay.url);
      const signature = signSegmentBytes(this.publisher.privateKey, { playbackId: this.playbackId, rendition, seq }, meta, segment.bytes);
      await this.relays.pushSegment(relay.url, this.playbackId, rendition, seq, meta, segment.bytes, signature);
      this.emit('segmentPublished', { rendition, seq, latencyS: (this.timers.now() - segment.completedAt) / 1000, bytes: segment.bytes.length });
    } catch (err) {
      this.emit('publishFailed', { rendition, seq, relay: relay.url, err });
      this.session.reassign([relay.url], 'publish_failed');
    }
  }

  // ---- CMAF renditions: progressive transcodes (progressive-transcodes.ts) and their parts. ----

  /** Transcoders whose output passed verification (or every one that answered, with no verifier): their parts go out before their segment is checked. */
  private readonly trusted = new Set<string>();
  /** Verified segments each transcoder passed: trusted after its first VERIFY_FIRST_SEGMENTS (the ones always verified). */
  private readonly verifiedPasses = new Map<string, number>();
  /** Each segment's source start (seconds on the media timeline), from its first part: a rendition's parts must start there. */
  private readonly sourceStarts = new Map<number, number>();
  /** Parts of progressive answers published so far, per segment and rendition index. */
  private readonly liveParts = new Map<number, LivePartLane[]>();
  private sourceTracks: Fmp4Track[] | null = null;
  /** The longest segment of the last few (seconds): what a progressive transcode pays for. */
  private longestSegment = 0;

  /** What a progressive transcode is paid for: the longest segment seen lately (at least the target), with slack. */
  private paidSecondsEstimate(): number {
    return Math.min(MAX_TARGET_DURATION_S, Math.max(this.options.segmentSeconds, this.longestSegment) * PAID_SHARE + PAID_SLACK_S);
  }

  /**
   * The stream's transcoders in the order segment `seq` tries them: rotated by `seq` so the work spreads,
   * without those that failed verification or `skip`. One rule for whole and progressive transcodes, so a
   * segment's first attempt finds the progressive run opened for it.
   */
  private rotation(seq: number, skip: (url: string) => boolean): string[] {
    const urls = (this.session.assignment?.transcoders ?? []).map((t) => t.url).filter((u) => !skip(u) && !this.failedVerification.has(u));
    const start = urls.length ? seq % urls.length : 0;
    return [...urls.slice(start), ...urls.slice(0, start)];
  }

  private progressiveChoice(seq: number, avoid: ReadonlyArray<string>): { transcoder: string; ladder: RenditionSpec[] } | null {
    if (!this.source || this.ladder.length === 0 || this.partTarget === null) return null;
    const now = this.timers.now();
    // A transcoder whose progressive transcode just failed gets no new segment until the session moves on:
    // the next in the rotation takes it (the segment's whole attempts skip the failed one too).
    const first = this.rotation(seq, (u) => avoid.includes(u)).find((u) => now - (this.progressiveFailedAt.get(u) ?? -Infinity) > PROGRESSIVE_FAILURE_MS);
    return first ? { transcoder: first, ladder: this.ladder } : null;
  }

  /** Transcoders whose progressive transcode failed, and when: avoided for new segments a while. */
  private readonly progressiveFailedAt = new Map<string, number>();
  /** Per segment, the transcoders its progressive transcodes failed on: its whole-segment attempts skip them. */
  private readonly progressiveFailures = new Map<number, string[]>();

  private progressiveFailed(seq: number, url: string, err: unknown): void {
    const now = this.timers.now();
    for (const [u, at] of this.progressiveFailedAt) if (now - at > PROGRESSIVE_FAILURE_MS) this.progressiveFailedAt.delete(u);
    this.progressiveFailedAt.set(url, now);
    this.progressiveFailures.set(seq, [...(this.progressiveFailures.get(seq) ?? []), url]);
    for (const old of this.progressiveFailures.keys()) if (old < seq - 8) this.progressiveFailures.delete(old);
    const payment = err instanceof CastnetError && err.code === 'PAYMENT_REQUIRED';
    this.emit('transcodeFailed', { seq, reason: payment ? 'payment_refused' : 'transcoder_error', transcoder: url, err });
    if (payment) this.payments?.invalidate(url);
    else this.session.reassign([url], 'transcoder_error');
  }

  /** Pays for `paidSeconds` of the ladder and opens a progressive transcode at `url`. */
  private async openLiveTranscode(url: string, seq: number, ladder: RenditionSpec[], paidSeconds: number, onFrame: (frame: Frame) => void, signal: AbortSignal, keyframesAt: number[] | null = null) {
    const pixels = outputPixels(ladder, { duration: paidSeconds, fps: 0 });
    const payment = this.payments ? await this.payments.pay(url, pixels) : null;
    signal.throwIfAborted();
    const call = startLiveTranscode(
      url,
      { playbackId: this.playbackId, seq, renditions: ladder, sourceFps: this.source?.fps || 30, sourceAudio: this.source?.audioCodec ?? 'none' },
      { paidSeconds, partTarget: this.partTarget ?? 1, ...(keyframesAt ? { keyframesAt } : {}) },
      { ...(payment ? { payment: payment.header } : {}), onFrame, timeoutMs: durationsMs(paidSeconds, TRANSCODE_TIMEOUT_DURATIONS + 1, MIN_TRANSCODE_TIMEOUT_MS), maxAnswerBytes: LIVE_ANSWER_LIMIT, signal },
    );
    void call.accepted.then(({ paramsSpent }) => {
      if (payment) this.emit('ticketsSent', { transcoder: url, tickets: payment.tickets, expectedValue: payment.expectedValue });
      if (paramsSpent) this.payments?.invalidate(url);
    }, () => {});
    return call;
  }

  /**
   * A frame of a progressive answer: from a trusted transcoder, each fragment that fits (its rendition's size,
   * its segment's time, no longer than PART-TARGET) goes to the relay as a part at once. A transcoder not yet
   * trusted is checked on its whole segment first (transcode()), which is then published without parts. A
   * stand-in's frames (another transcoder than the one whose parts went out) continue those parts: its init
   * must be the same one, its fragments up to where they ended are skipped, and the next must start there
   * with a keyframe (the resume point it was asked for); anything else stops the early parts.
   */
  private progressiveFrame(seq: number, url: string, ladder: RenditionSpec[], frame: Frame): void {
    if (!this.trusted.has(url) || ladder !== this.ladder || this.partTarget === null) return;
    let state = this.liveParts.get(seq);
    if (!state) {
      this.liveParts.set(seq, (state = ladder.map(() => ({ from: url, tracks: null, next: 0, stopped: false, held: null, frames: 0, end: 0, resumeAt: null }))));
      for (const old of this.liveParts.keys()) if (old < seq - 4) this.liveParts.delete(old);
    }
    const lane = state[frame.rendition]!;
    const spec = ladder[frame.rendition]!;
    if (lane.stopped) return;
    try {
      if (frame.kind === 'init') {
        const size = initVideoSize(frame.payload);
        if (!size || size.width !== spec.width || size.height !== spec.height) throw new Error(`init segment of ${size?.width}x${size?.height}`);
        if (lane.from !== url) {
          // A stand-in: what the dead one held back never went out; its parts are followed from where they end.
          lane.from = url;
          lane.held = null;
          lane.resumeAt = lane.next > 0 ? lane.end : null;
          if (lane.next > 0 && !initIdentity(frame.payload).equals(this.lane(spec.name).init?.identity ?? Buffer.alloc(0))) throw new Error('a stand-in init segment unlike the one its parts follow');
        }
        lane.tracks = parseInit(frame.payload);
        this.setInit(spec.name, seq, frame.payload);
        return;
      }
      if (lane.from !== url) throw new Error('fragments of a transcoder whose init segment never came');
      // Its init went by before it was trusted (trust came with a segment verified mid-answer): this segment follows whole.
      if (!lane.tracks) throw new Error('fragments whose init segment went by untrusted');
      const timing = fragmentTiming(frame.payload, lane.tracks);
      if (lane.resumeAt !== null) {
        if (timing.start + timing.duration <= lane.resumeAt + 0.001) return;
        if (Math.abs(timing.start - lane.resumeAt) > 0.002 || !timing.independent) throw new Error(`the stand-in resumed at ${timing.start.toFixed(3)} s, not ${lane.resumeAt.toFixed(3)} s with a keyframe`);
        lane.resumeAt = null;
      }
      const start = this.sourceStarts.get(seq);
      if (timing.duration > this.partTarget + 0.001) throw new Error(`a part of ${timing.duration.toFixed(3)} s`);
      if (lane.next === 0 && !lane.held && (start === undefined || Math.abs(timing.start - start) > 0.1 || !timing.independent)) throw new Error('its first part does not start the segment with a keyframe');
      // Only a segment's last part may be short (under 85% of PART-TARGET): FFmpeg writes the frames it held
      // back (B-frames, lookahead) as small fragments at the end, so a short one waits to be joined with what
      // follows, while the two fit the target; what is held when the answer ends goes out as the last part.
      if (lane.held) {
        if (lane.held.duration + timing.duration <= this.partTarget + 0.001) {
          const held = lane.held;
          lane.held = { bytes: [...held.bytes, frame.payload], duration: held.duration + timing.duration, independent: held.independent, frames: held.frames + timing.samples, end: timing.start + timing.duration };
          if (lane.held.duration < this.partTarget * SHORT_PART_SHARE) return;
          return this.releaseHeld(spec.name, seq, lane);
        }
        this.releaseHeld(spec.name, seq, lane);
      }
      if (timing.duration < this.partTarget * SHORT_PART_SHARE) {
        lane.held = { bytes: [frame.payload], duration: timing.duration, independent: timing.independent, frames: timing.samples, end: timing.start + timing.duration };
        return;
      }
      lane.frames += timing.samples;
      lane.end = timing.start + timing.duration;
      this.pushPart(spec.name, seq, lane.next++, { duration: Number(timing.duration.toFixed(5)), independent: timing.independent }, frame.payload, this.timers.now());
    } catch {
      // Nothing more of this segment goes out early; its whole segment meets the checks in transcode().
      lane.stopped = true;
    }
  }

  private releaseHeld(rendition: string, seq: number, lane: LivePartLane): void {
    const held = lane.held;
    if (!held) return;
    lane.held = null;
    lane.frames += held.frames;
    lane.end = held.end;
    this.pushPart(rendition, seq, lane.next++, { duration: Number(held.duration.toFixed(5)), independent: held.independent }, held.bytes.length === 1 ? held.bytes[0]! : Buffer.concat(held.bytes), this.timers.now());
  }

  /** Per rendition, the frames of segment `seq` that went out as parts; null when none did (a stand-in then starts the segment). */
  private resumePoints(seq: number, ladder: RenditionSpec[]): number[] | null {
    const state = this.liveParts.get(seq);
    if (!state || ladder !== this.ladder || state.every((l) => l.next === 0)) return null;
    return state.map((l) => (l.stopped ? 0 : l.frames));
  }

  /** A progressive answer is complete: each rendition's held short fragment goes out as its segment's last part. */
  private progressiveDone(seq: number, url: string): void {
    if (!this.trusted.has(url)) return;
    this.liveParts.get(seq)?.forEach((lane, i) => {
      if (!lane.stopped && lane.from === url && lane.resumeAt === null) this.releaseHeld(this.ladder[i]!.name, seq, lane);
    });
  }

  /** One attempt at one transcoder, with the payment its price needs. */
  private async attempt(transcoderUrl: string, seq: number, meta: SegmentMetadata, segment: PipelineSegment, pixels: bigint, signal: AbortSignal): Promise<Map<string, Buffer>> {
    if (this.progressive && segment.cmaf && segment.cmafInit) {
      // Its progressive transcode, when it went to this transcoder; else the whole CMAF segment at once.
      const progressive = this.progressive.take(seq, transcoderUrl, signal);
      if (progressive) return await progressive;
      const collector = new RenditionCollector(this.ladder);
      const call = await this.openLiveTranscode(transcoderUrl, seq, this.ladder, Math.min(MAX_TARGET_DURATION_S, meta.duration + PAID_SLACK_S), (f) => collector.add(f), signal);
      call.write(segment.cmafInit);
      call.write(segment.cmaf);
      call.end();
      await call.done;
      return collector.result();
    }
    const payment = this.payments ? await this.payments.pay(transcoderUrl, pixels) : null;
    const timeoutMs = durationsMs(meta.duration, TRANSCODE_TIMEOUT_DURATIONS, MIN_TRANSCODE_TIMEOUT_MS);
    const answer = await this.transcoders.transcode(
      transcoderUrl,
      segment.bytes,
      { playbackId: this.playbackId, seq, renditions: this.ladder, sourceFps: this.source?.fps || 30, sourceAudio: this.source?.audioCodec ?? 'none' },
      timeoutMs,
      payment?.header,
      signal,
    );
    if (payment) this.emit('ticketsSent', { transcoder: transcoderUrl, tickets: payment.tickets, expectedValue: payment.expectedValue });
    if (answer.paramsSpent) this.payments?.invalidate(transcoderUrl);
    return answer.renditions;
  }

  /** One transcoder, retried there once with fresh ticket parameters if it refused stale ones. */
  private async attemptWithFreshParams(url: string, seq: number, meta: SegmentMetadata, segment: PipelineSegment, pixels: bigint, signal: AbortSignal): Promise<Map<string, Buffer>> {
    try {
      return await this.attempt(url, seq, meta, segment, pixels, signal);
    } catch (err) {
      const reason = err instanceof CastnetError && err.code === 'PAYMENT_REQUIRED' ? String(err.context.reason) : null;
      if (!reason) throw err;
      const retrying = STALE_PARAMS.has(reason);
      this.emit('paymentRefused', { seq, transcoder: url, reason, retrying });
      this.payments?.invalidate(url);
      if (!retrying) throw err;
      return await this.attempt(url, seq, meta, segment, pixels, signal);
    }
  }

  /**
   * Sends a segment to the first of `candidates`; when it fails, to the next at once, and when it has not
   * answered by the deadline (twice the segment's duration), to the next as well, keeping whichever
   * answers first and aborting the others. Failed transcoders are reported to the session.
   */
  private hedged(candidates: string[], seq: number, meta: SegmentMetadata, segment: PipelineSegment, pixels: bigint, failed: Map<string, string>): Promise<Transcoded | null> {
    const deadlineMs = durationsMs(meta.duration, HEDGE_DURATIONS, MIN_HEDGE_MS);
    return new Promise((resolve) => {
      let next = 0;
      let running = 0;
      let done = false;
      const controllers: AbortController[] = [];
      const launch = (): void => {
        if (done) return;
        if (next >= candidates.length) {
          if (running === 0) {
            done = true;
            resolve(null);
          }
          return;
        }
        const url = candidates[next++]!;
        const controller = new AbortController();
        controllers.push(controller);
        running++;
        const hedge = this.timers.setTimeout(() => {
          this.emit('hedged', { seq, transcoder: url, deadlineMs });
          launch();
        }, deadlineMs);
        this.attemptWithFreshParams(url, seq, meta, segment, pixels, controller.signal).then(
          (renditions) => {
            this.timers.clearTimeout(hedge);
            running--;
            if (done) return;
            done = true;
            for (const c of controllers) if (c !== controller) c.abort();
            resolve({ renditions, transcoder: url });
          },
          (err: unknown) => {
            this.timers.clearTimeout(hedge);
            running--;
            if (done) return;
            const payment = err instanceof CastnetError && err.code === 'PAYMENT_REQUIRED';
            this.emit('transcodeFailed', {
              seq,
              reason: payment ? 'payment_refused' : 'transcoder_error',
              transcoder: url,
              ...(payment ? { paymentReason: String(err.context.reason) } : {}),
              err,
            });
            failed.set(url, payment ? `payment refused (${String(err.context.reason)}): ${err.message}` : err instanceof Error ? err.message : String(err));
            this.session.reassign([url], payment ? 'payment_refused' : 'transcoder_error');
            launch();
          },
        );
      };
      launch();
    });
  }

  /**
   * Transcodes a segment on the stream's transcoders, rotating which goes first from segment to segment so
   * the work spreads; if every one fails, asks the session for others at once and tries once more.
   */
  private async transcodeWithRetry(seq: number, meta: SegmentMetadata, segment: PipelineSegment, failed = new Map<string, string>()): Promise<(Transcoded & { source: MediaInfo }) | null> {
    if (!this.session.assignment?.transcoders.length) {
      this.emit('transcodeFailed', { seq, reason: 'no_transcoder' });
      this.session.reassign([]);
      return null;
    }
    const info = probeTs(segment.bytes);
    const pixels = outputPixels(this.ladder, info);
    for (let round = 0; round < 2; round++) {
      const rotated = this.rotation(seq, (u) => failed.has(u));
      const result = rotated.length ? await this.hedged(rotated, seq, meta, segment, pixels, failed) : null;
      if (result) return { ...result, source: info };
      if (round === 0) {
        // Transcoders that failed verification are avoided too: the orchestrator may not know them as bad yet.
        await this.session.reassignNow([...failed.keys(), ...this.failedVerification], failed.size > 0 ? 'transcoder_error' : 'verification_failed');
        if ((this.session.assignment?.transcoders ?? []).every((t) => failed.has(t.url) || this.failedVerification.has(t.url))) break;
      }
    }
    const why = [...failed].map(([url, reason]) => `${url}: ${reason}`).join('; ');
    this.emit('transcodeAbandoned', { seq, why: why || 'no transcoder is assigned' });
    return null;
  }

  /**
   * Transcodes a segment, checks the answer and, when it is sampled, verifies it against the source. Output
   * that fails verification is not published: the node is reported (`verification_failed`) and the segment
   * goes to another transcoder, whose first segments are verified in their turn.
   */
  private async transcode(seq: number, meta: SegmentMetadata, segment: PipelineSegment): Promise<void> {
    const excluded = new Set<string>();
    for (let attempt = 0; attempt < MAX_VERIFIED_ATTEMPTS; attempt++) {
      // Too far behind the stream: the relay lists its renditions as gaps already, so no transcoder is paid for it.
      if (this.nextSeq - 1 - seq >= RENDITION_LAG_SEGMENTS) {
        this.emit('transcodeFailed', { seq, reason: 'late', backlog: this.nextSeq - 1 - seq });
        return;
      }
      let result;
      try {
        const failed = new Map<string, string>([...excluded].map((url) => [url, 'its output failed verification']));
        for (const url of this.progressiveFailures.get(seq) ?? []) if (!failed.has(url)) failed.set(url, 'its progressive transcode of this segment failed');
        result = await this.transcodeWithRetry(seq, meta, segment, failed);
      } catch (err) {
        this.emit('transcodeFailed', { seq, reason: 'unprobeable', err });
        return;
      }
      if (!result) return;
      const { renditions, transcoder, source } = result;
      this.emit('transcoded', { seq, transcoder });
      const cmaf = this.progressive && segment.cmaf && segment.cmafInit ? { init: segment.cmafInit, timing: cmafTiming(segment.cmafInit, segment.cmaf, source.duration) } : null;
      const accepted: Array<{ spec: RenditionSpec; bytes: Buffer; cmaf?: CmafRendition }> = [];
      for (const spec of this.ladder) {
        const bytes = renditions.get(spec.name);
        try {
          const context = { playbackId: this.playbackId, seq, rendition: spec.name };
          if (!bytes) throw new CastnetError('INVALID_SEGMENT', 'rendition missing from the answer', context);
          if (cmaf) accepted.push({ spec, bytes, cmaf: checkCmafRendition(bytes, spec, cmaf.timing, context) });
          else {
            checkRendition(bytes, spec, source, context);
            accepted.push({ spec, bytes });
          }
        } catch (err) {
          this.emit('outputRejected', { seq, rendition: spec.name, transcoder, err });
        }
      }
      // A transcoder that returns bad output is reported: the orchestrator counts it against the node, moves
      // this stream elsewhere, and stops assigning it work while its failures are recent.
      if (accepted.length < this.ladder.length) this.session.reassign([transcoder], 'bad_output');
      let passedVerification = false;
      if (accepted.length > 0 && this.verifier?.shouldVerify(transcoder)) {
        const started = this.timers.now();
        let verdicts: Verdict[];
        try {
          const timeoutMs = durationsMs(meta.duration, TRANSCODE_TIMEOUT_DURATIONS, MIN_TRANSCODE_TIMEOUT_MS);
          verdicts = cmaf
            ? await this.verifier.verify(Buffer.concat([cmaf.init, segment.cmaf!]), source, accepted, timeoutMs, 'mp4')
            : await this.verifier.verify(segment.bytes, source, accepted, timeoutMs);
        } catch (err) {
          // The comparison could not run here (FFmpeg failed): that says nothing of the node; publish as checked.
          this.emit('transcodeFailed', { seq, reason: 'transcoder_error', transcoder, err });
          verdicts = [];
        }
        const passed = verdicts.every((v) => v.ok);
        passedVerification = passed && verdicts.length > 0;
        this.emit('outputVerified', { seq, transcoder, passed, verdicts, ms: this.timers.now() - started });
        if (!passed) {
          this.failedVerification.add(transcoder);
          this.trusted.delete(transcoder);
          this.session.reassign([transcoder], 'verification_failed');
          excluded.add(transcoder);
          continue;
        }
      }
      if (passedVerification) {
        const passes = (this.verifiedPasses.get(transcoder) ?? 0) + 1;
        this.verifiedPasses.set(transcoder, passes);
        if (passes >= VERIFY_FIRST_SEGMENTS) this.trusted.add(transcoder);
      } else if (!this.verifier && accepted.length === this.ladder.length) this.trusted.add(transcoder);
      for (const { spec, bytes, cmaf: rendition } of accepted) {
        if (!rendition) {
          await this.publish(spec.name, seq, meta, { bytes, completedAt: segment.completedAt });
          continue;
        }
        // Behind the parts of it that went out already (from this answer: the segment completes them).
        this.setInit(spec.name, seq, rendition.init);
        const lane = this.lane(spec.name);
        const done = (lane.chain = lane.chain.then(() => this.publishCmafSegment(spec.name, seq, meta, rendition.body, segment.completedAt)));
        await done;
      }
      return;
    }
    this.emit('transcodeAbandoned', { seq, why: `every transcoder tried failed verification (${[...excluded].join(', ')})` });
  }
}

/** A CMAF source segment's start on the media timeline and its duration (the probe's when its fragments do not say). */
function cmafTiming(init: Buffer, fragments: Buffer, probedDuration: number): { start: number; duration: number } {
  try {
    const timing = fragmentTiming(fragments, parseInit(init));
    return { start: timing.start, duration: timing.duration };
  } catch {
    return { start: 0, duration: probedDuration };
  }
}
