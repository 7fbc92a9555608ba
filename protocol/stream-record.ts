// Wire contract of streams: the session a broadcaster opens with the orchestrator, the descriptor it pushes
// to a relay, and the public directory entry (`GET /api/streams`), which never holds a stream key.

import { z } from 'zod';
import { MAX_FAILURE_REPORTS, failureReportSchema } from './failure-report.ts';
import { addressString, decimalString, idPattern, renditionNamePattern } from './fields.ts';
import { nodeRecordSchema } from './node-record.ts';
import { deliveryTermsSchema } from './delivery-receipt.ts';
import { MAX_STREAM_WEBHOOKS, webhookEndpointSchema } from './webhook.ts';
import { signedPlaybackPolicySchema } from './playback-policy.ts';

/**
 * One RFC 6381 codec: a sample entry (`avc1`, `mp4a`, `hvc1`, `ac-3`) and up to eight dot-separated
 * alphanumeric parts (`avc1.64001f`, `mp4a.40.2`, `hvc1.1.6.L93.B0`). A codec list is one to four of them
 * joined by commas, no spaces. These values are written inside CODECS="…" in the multivariant playlist, so
 * nothing else (a quote, a line break) may get through.
 */
export const CODEC_CHARS = '[A-Za-z0-9][A-Za-z0-9-]{2,3}(?:\\.[A-Za-z0-9]{1,16}){0,8}';
export const codecsPattern = new RegExp(`^${CODEC_CHARS}(?:,${CODEC_CHARS}){0,3}$`);

/** Bounds of what a variant may claim: beyond them a value is a mistake or an attack, never a stream. */
export const VARIANT_LIMITS = { maxDimension: 16_384, maxBandwidth: 1_000_000_000, maxFrameRate: 1_000 } as const;
/** The longest segment (and EXT-X-TARGETDURATION) a relay accepts, in seconds. */
export const MAX_TARGET_DURATION_SECONDS = 60;

export const variantSchema = z.object({
  name: z.string().regex(renditionNamePattern, 'rendition name must be 1-32 of A-Z a-z 0-9 _ -'),
  width: z.number().int().positive().max(VARIANT_LIMITS.maxDimension),
  height: z.number().int().positive().max(VARIANT_LIMITS.maxDimension),
  /** Peak bits per second, as EXT-X-STREAM-INF BANDWIDTH wants. */
  bandwidth: z.number().int().positive().max(VARIANT_LIMITS.maxBandwidth),
  /** RFC 6381 codec string, e.g. `avc1.64001f,mp4a.40.2`. */
  codecs: z.string().max(200).regex(codecsPattern, 'codecs must be an RFC 6381 codec list such as avc1.64001f,mp4a.40.2'),
  frameRate: z.number().positive().max(VARIANT_LIMITS.maxFrameRate).optional(),
});
export type Variant = z.infer<typeof variantSchema>;

/** What a broadcaster pushes to a relay (`PUT /hls/<playbackId>`) before its segments. */
export const streamDescriptorSchema = z.object({
  playbackId: z.string().regex(idPattern),
  variants: z.array(variantSchema).min(1).max(16).refine((vs) => new Set(vs.map((v) => v.name)).size === vs.length, 'variant names must be distinct'),
  targetDuration: z.number().positive().max(MAX_TARGET_DURATION_SECONDS),
  /** Who may watch (protocol/playback-policy.ts), signed by the publisher; absent: public. */
  playbackPolicy: signedPlaybackPolicySchema.optional(),
  /** False: the streamer asked for no recording (the stream key's setting); absent: the origin's default. */
  record: z.boolean().optional(),
});
export type StreamDescriptor = z.infer<typeof streamDescriptorSchema>;

/** Something the streamer should change, in words they can act on (e.g. the keyframe interval to set in OBS). */
export const streamWarningSchema = z.object({
  /** Stable: `long_keyframe_interval`, `irregular_keyframes`, `source_not_playable`. */
  code: z.string().max(64),
  message: z.string().max(1_000),
});
export type StreamWarning = z.infer<typeof streamWarningSchema>;

export { deliveryTermsSchema, type DeliveryTerms } from './delivery-receipt.ts';

/** What a broadcaster sends the orchestrator to open or refresh a stream session. */
export const sessionRequestSchema = z.object({
  playbackId: z.string().regex(idPattern),
  broadcaster: z.string().max(200).default('broadcaster'),
  renditions: z.array(z.object({ name: z.string(), width: z.number().int(), height: z.number().int() })).default([]),
  startedAt: z.iso.datetime({ offset: true }),
  /** Nodes the broadcaster found failing; the orchestrator avoids them when it can, and counts each as a failure report. */
  avoid: z.array(z.string().max(2_048)).max(MAX_FAILURE_REPORTS).default([]),
  /** Why the avoided nodes failed (protocol/failure-report.ts); an avoided node without one reads as `unreachable`. */
  failures: z.array(failureReportSchema).max(MAX_FAILURE_REPORTS).optional(),
  /** The relay the stream used before a reconnect, so its viewers keep their relay. */
  preferRelay: z.string().max(2_048).optional(),
  /** The most the broadcaster pays a transcoder, wei per pixel (decimal string). */
  maxPricePerPixel: decimalString.optional(),
  /** Encoders the stream wants its transcoders to have (e.g. `h264_nvenc`), any one will do; empty: any. */
  encoders: z.array(z.string().max(64)).max(8).optional(),
  /** What the broadcaster found wrong with the stream as sent; shown in the directory. */
  warnings: z.array(streamWarningSchema).max(8).optional(),
  /**
   * The stream's publisher key (protocol/content-signature.ts): the directory binds it to the playback id,
   * and relays and players accept only content it signed. Set by the session's owner, so nobody else can.
   */
  publisher: addressString.transform((a) => a.toLowerCase()).optional(),
  /** Paid delivery (protocol/delivery-receipt.ts): who pays relays, where players get viewer sessions, the most it pays. */
  delivery: deliveryTermsSchema.optional(),
  /** The stream key's own webhook receivers (protocol/webhook.ts); the orchestrator delivers its events there too, and never shows them. */
  webhooks: z.array(webhookEndpointSchema).max(MAX_STREAM_WEBHOOKS).optional(),
  /** Who may watch, signed by the publisher key (protocol/playback-policy.ts): the directory shows it, edges believe it. */
  playbackPolicy: signedPlaybackPolicySchema.optional(),
});
export type SessionRequest = z.infer<typeof sessionRequestSchema>;

/** The answer to `POST /api/streams`. */
export const assignmentSchema = z.object({
  playbackId: z.string(),
  /** The first of `transcoders`, or null when none is available. */
  transcoder: nodeRecordSchema.nullable(),
  /** Every transcoder the stream may use, best first: segments rotate over them and fail over between them. */
  transcoders: z.array(nodeRecordSchema),
  relay: nodeRecordSchema,
});
export type Assignment = z.infer<typeof assignmentSchema>;

/** One entry of the public directory, `GET /api/streams`. */
export const streamDirectoryEntrySchema = z.object({
  playbackId: z.string(),
  playbackUrl: z.string(),
  watchUrl: z.string(),
  renditions: z.array(z.object({ name: z.string(), width: z.number(), height: z.number() })),
  startedAt: z.string(),
  relay: z.string(),
  transcoder: z.string().nullable(),
  transcoders: z.array(z.string()),
  warnings: z.array(streamWarningSchema).default([]),
  /** The key whose signature every segment of the stream carries; null when its broadcaster named none (nothing it pushes is accepted). */
  publisher: addressString.transform((a) => a.toLowerCase()).nullable().default(null),
  /** Paid delivery terms; null when the stream pays no relay. */
  delivery: deliveryTermsSchema.nullable().default(null),
  /** The publisher-signed playback policy; null: public. */
  playbackPolicy: signedPlaybackPolicySchema.nullable().default(null),
});
export type StreamDirectoryEntry = z.infer<typeof streamDirectoryEntrySchema>;

/** The answer to `GET /api/streams/:playbackId/relays`: relay URLs, best first. */
export const relayListSchema = z.array(z.string());
