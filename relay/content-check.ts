// The relay's check of signed content (protocol/content-signature.ts), for segments pushed to an origin
// and segments an edge pulls from a parent: the program date time within the window of this relay's
// clock, and a signature by the stream's publisher key (publisher-keys.ts) over the metadata and the
// bytes. A refusal names its reason and is reported once (castnet_relay_content_refused_total{from,reason}).
// Hot path: one SHA-256 and one signature verification per segment.

import { CONTENT_MAX_AGE_MS, CONTENT_MAX_LEAD_MS, inContentWindow, segmentSigner, type ContentRefusal } from '../protocol/content-signature.ts';
import { CastnetError, type ErrorCode } from '../protocol/errors.ts';
import { checkSegmentBytes, sha256, type SegmentAddress } from '../protocol/segment-signing.ts';
import { parseSegmentMetadata, SEGMENT_HEADERS, signedSegmentHeaders, type SegmentMetadata } from '../protocol/segment-metadata.ts';
import { CONTENT_SIGNATURE_HEADER } from '../protocol/content-signature.ts';
import type { PublisherKeys } from './publisher-keys.ts';
import { checkInitSignature, checkPartSignature, initSigner, PART_HEADERS, partSigner } from '../protocol/part-signature.ts';
import { initHeaders, parsePartMetadata, parsePartTarget, partHeaders, type PartMetadata } from '../protocol/part-metadata.ts';

/** A part's claim beside its address (protocol/part-signature.ts). */
export interface PartMeta {
  part: number;
  duration: number;
  independent: boolean;
}

/** Where a checked segment came from: a broadcaster's push, or an edge's parent. */
export type ContentSource = 'push' | 'parent';

export interface ContentCheckOptions {
  keys: PublisherKeys;
  now?: () => number;
  onRefused?: (from: ContentSource, reason: string, playbackId: string) => void;
}

const CODES: Record<ContentRefusal, ErrorCode> = {
  unsigned: 'SIGNATURE_INVALID',
  signature_malformed: 'SIGNATURE_INVALID',
  wrong_signer: 'SIGNATURE_INVALID',
  publisher_unknown: 'FORBIDDEN',
  out_of_window: 'BAD_REQUEST',
};

const MESSAGES: Record<ContentRefusal, string> = {
  unsigned: "segments must carry their publisher's signature (castnet-content-signature, protocol/content-signature.ts)",
  signature_malformed: 'the content signature is not 65 bytes of 0x hex',
  wrong_signer: "the content signature is not the stream's publisher's over this segment's playback id, rendition, sequence, duration, program date time, discontinuity and bytes",
  publisher_unknown: 'no publisher key is known for this stream',
  out_of_window: `the segment's program date time is more than ${CONTENT_MAX_AGE_MS / 60_000} min behind or ${CONTENT_MAX_LEAD_MS / 1_000} s ahead of this relay's clock`,
};

export class ContentCheck {
  private readonly options: ContentCheckOptions;
  private readonly now: () => number;

  constructor(options: ContentCheckOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Resolves when the segment is the publisher's and in the window; rejects with a CastnetError naming the reason. */
  async segment(from: ContentSource, at: SegmentAddress, meta: SegmentMetadata, bytes: Uint8Array, signature: string | null | undefined): Promise<void> {
    const context = { ...at, from };
    if (!signature) this.refuse('unsigned', context);
    if (!inContentWindow(meta.programDateTime, this.now())) this.refuse('out_of_window', context);
    let publisher: string;
    try {
      // Without a directory the first signer binds the stream, so it is recovered (once per stream).
      const signer = this.options.keys.fromDirectory ? null : segmentSigner({ ...at, ...meta, sha256: sha256(bytes) }, signature);
      publisher = await this.options.keys.publisherOf(at.playbackId, signer);
    } catch (err) {
      if (err instanceof CastnetError && err.context.reason === 'publisher_unknown') this.refuse('publisher_unknown', context, err.message);
      throw err;
    }
    const refusal = checkSegmentBytes(publisher, at, meta, bytes, signature);
    if (refusal) this.refuse(refusal, context);
  }

  /** A low-latency part: the publisher's signature over its address, timing and bytes. No time window: its segment's sequence number places it. */
  async part(from: ContentSource, at: SegmentAddress, meta: PartMeta, bytes: Uint8Array, signature: string | null | undefined): Promise<void> {
    const claim = () => ({ ...at, ...meta, sha256: sha256(bytes) });
    await this.signed(from, at, signature, (s) => partSigner(claim(), s), (publisher) => checkPartSignature(claim(), signature, publisher));
  }

  /** An init segment (EXT-X-MAP) for the segments from `at.seq` on, and the stream's part target. */
  async init(from: ContentSource, at: SegmentAddress, partTarget: number, bytes: Uint8Array, signature: string | null | undefined): Promise<void> {
    const claim = () => ({ ...at, partTarget, sha256: sha256(bytes) });
    await this.signed(from, at, signature, (s) => initSigner(claim(), s), (publisher) => checkInitSignature(claim(), signature, publisher));
  }

  private async signed(from: ContentSource, at: SegmentAddress, signature: string | null | undefined, signer: (s: string) => string | null, check: (publisher: string) => ContentRefusal | null): Promise<void> {
    const context = { ...at, from };
    if (!signature) this.refuse('unsigned', context);
    let publisher: string;
    try {
      publisher = await this.options.keys.publisherOf(at.playbackId, this.options.keys.fromDirectory ? null : signer(signature));
    } catch (err) {
      if (err instanceof CastnetError && err.context.reason === 'publisher_unknown') this.refuse('publisher_unknown', context, err.message);
      throw err;
    }
    const refusal = check(publisher);
    if (refusal) this.refuse(refusal, context);
  }

  /** A segment a parent answered with: checked as a push is, and the headers to serve it with. */
  async pulled(at: SegmentAddress, headers: Headers, bytes: Uint8Array): Promise<Record<string, string>> {
    let meta: SegmentMetadata;
    try {
      meta = parseSegmentMetadata(Object.fromEntries(Object.values(SEGMENT_HEADERS).map((h) => [h, headers.get(h) ?? undefined])));
    } catch (err) {
      this.refuse('unsigned', { ...at, from: 'parent' }, `the parent sent the segment without valid metadata headers: ${(err as Error).message}`);
    }
    const signature = headers.get(CONTENT_SIGNATURE_HEADER);
    await this.segment('parent', at, meta, bytes, signature);
    return signedSegmentHeaders({ ...meta, signature: signature! });
  }

  /** A part a parent answered with: its claim from the headers, checked as a push is; the headers to serve it with. */
  async pulledPart(at: SegmentAddress, part: number, headers: Headers, bytes: Uint8Array): Promise<Record<string, string>> {
    let meta: PartMetadata;
    try {
      meta = parsePartMetadata({ [PART_HEADERS.duration]: headers.get(PART_HEADERS.duration) ?? undefined, [PART_HEADERS.independent]: headers.get(PART_HEADERS.independent) ?? undefined });
    } catch (err) {
      this.refuse('unsigned', { ...at, from: 'parent' }, `the parent sent part ${at.seq}.${part} without valid part headers: ${(err as Error).message}`);
    }
    const signature = headers.get(CONTENT_SIGNATURE_HEADER);
    await this.part('parent', at, { part, ...meta }, bytes, signature);
    return partHeaders(meta, signature!);
  }

  /** An init segment a parent answered with, checked as a push is; the headers to serve it with. */
  async pulledInit(at: SegmentAddress, headers: Headers, bytes: Uint8Array): Promise<Record<string, string>> {
    let partTarget: number;
    try {
      partTarget = parsePartTarget({ [PART_HEADERS.partTarget]: headers.get(PART_HEADERS.partTarget) ?? undefined });
    } catch (err) {
      this.refuse('unsigned', { ...at, from: 'parent' }, `the parent sent init segment ${at.seq} without a valid part target header: ${(err as Error).message}`);
    }
    const signature = headers.get(CONTENT_SIGNATURE_HEADER);
    await this.init('parent', at, partTarget, bytes, signature);
    return initHeaders(partTarget, signature!);
  }

  /** Counts and throws a refusal; `reason` may also be a signed request's (signature_stale …). */
  refuse(reason: ContentRefusal, context: SegmentAddress & { from: ContentSource } | { playbackId: string; from: ContentSource }, message?: string): never {
    this.options.onRefused?.(context.from, reason, context.playbackId);
    throw new CastnetError(CODES[reason], message ?? MESSAGES[reason], { ...context, reason });
  }
}
