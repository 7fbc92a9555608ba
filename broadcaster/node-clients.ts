// HTTP clients for the data path out of the broadcaster: segments to a transcoder (renditions back as
// multipart, read up to a limit), and descriptors, segments and the stream's end to a relay. Hot path: one
// call per segment and rendition. `fetch` is injected: the broadcaster gives the outbound fetch
// (http/outbound-fetch.ts), tests their own servers or functions.

import { CastnetError } from '../protocol/errors.ts';
import { failureFromResponse } from '../protocol/http-failure.ts';
import { readLimited } from '../protocol/read-limited.ts';
import { boundaryOf, decodeMultipart } from '../protocol/multipart.ts';
import { segmentMetadataHeaders, type SegmentMetadata } from '../protocol/segment-metadata.ts';
import type { StreamDescriptor } from '../protocol/stream-record.ts';
import { TRANSCODE_HEADERS, transcodeHeaders, type TranscodeParams } from '../protocol/transcode-request.ts';
import { PARAMS_SPENT_HEADER, PAYMENT_HEADER } from '../protocol/payment.ts';
import { CONTENT_SIGNATURE_HEADER } from '../protocol/content-signature.ts';
import type { Identity } from '../protocol/identity.ts';
import { signRequest } from '../protocol/signed-request.ts';

export type Fetch = typeof globalThis.fetch;

const RELAY_DESCRIPTOR_TIMEOUT_MS = 5_000;
const RELAY_SEGMENT_TIMEOUT_MS = 10_000;
const RELAY_END_TIMEOUT_MS = 5_000;

/**
 * The most a transcoder's answer may hold: every rendition together is smaller than the source at any sane
 * ladder, so eight times the source plus 16 MiB is far beyond honest output and still bounded.
 */
export function transcodeAnswerLimit(segmentBytes: number): number {
  return 16 * 1024 * 1024 + 8 * segmentBytes;
}

/** A view of the same memory, typed as fetch wants: segment bytes are never copied on the way out. */
const view = (bytes: Buffer) => new Uint8Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.length);

/** AbortSignal.timeout takes whole milliseconds only: a timeout derived from a fractional duration is rounded up. */
const timeout = (ms: number) => AbortSignal.timeout(Math.ceil(ms));


export interface TranscodeAnswer {
  renditions: Map<string, Buffer>;
  /** The transcoder says the ticket parameters used are spent (a ticket won). */
  paramsSpent: boolean;
}

/** `POST /transcode` on any transcoder. */
export class TranscoderClient {
  private readonly fetch: Fetch;

  constructor(components: { fetch?: Fetch } = {}) {
    this.fetch = components.fetch ?? globalThis.fetch;
  }

  async transcode(transcoderUrl: string, segment: Buffer, params: TranscodeParams, timeoutMs: number, payment?: string, signal?: AbortSignal): Promise<TranscodeAnswer> {
    const res = await this.fetch(`${transcoderUrl}/transcode`, {
      method: 'POST',
      headers: { 'content-type': 'video/mp2t', ...transcodeHeaders(params), ...(payment ? { [PAYMENT_HEADER]: payment } : {}) },
      body: view(segment),
      signal: signal ? AbortSignal.any([signal, timeout(timeoutMs)]) : timeout(timeoutMs),
    });
    if (!res.ok) throw await failureFromResponse(res, 'transcoder refused the segment', transcoderUrl);
    const boundary = boundaryOf(res.headers.get('content-type'));
    if (!boundary) throw new CastnetError('UPSTREAM_FAILED', 'transcoder answered without a multipart body', { node: transcoderUrl });
    const parts = decodeMultipart(await readLimited(res, transcodeAnswerLimit(segment.length), { node: transcoderUrl }), boundary);
    return { renditions: new Map(parts.map((p) => [p.headers[TRANSCODE_HEADERS.rendition] ?? '', p.body])), paramsSpent: res.headers.get(PARAMS_SPENT_HEADER) === '1' };
  }
}

/**
 * A relay's ingest side: `PUT /hls/<id>` (descriptor), `PUT /hls/<id>/<rendition>/<seq>.ts`, `POST /hls/<id>/end`.
 * The descriptor and the end are signed requests of the stream's publisher key (protocol/signed-request.ts);
 * each segment carries the publisher's content signature (protocol/content-signature.ts).
 */
export class RelayClient {
  private readonly fetch: Fetch;
  private readonly now: () => number;

  constructor(components: { fetch?: Fetch; now?: () => number } = {}) {
    this.fetch = components.fetch ?? globalThis.fetch;
    this.now = components.now ?? Date.now;
  }

  async pushDescriptor(relayUrl: string, descriptor: StreamDescriptor, publisher: Identity): Promise<void> {
    const path = `/hls/${descriptor.playbackId}`;
    const body = new TextEncoder().encode(JSON.stringify(descriptor));
    const res = await this.fetch(`${relayUrl}${path}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...signRequest(publisher, { method: 'PUT', path, body, timestamp: this.now() }) },
      body,
      signal: timeout(RELAY_DESCRIPTOR_TIMEOUT_MS),
    });
    if (!res.ok) throw await failureFromResponse(res, 'relay refused the stream descriptor', relayUrl);
    await res.body?.cancel();
  }

  /** `signature`: the publisher's content signature of exactly these bytes and this metadata. */
  async pushSegment(relayUrl: string, playbackId: string, rendition: string, seq: number, meta: SegmentMetadata, bytes: Buffer, signature: string): Promise<void> {
    const res = await this.fetch(`${relayUrl}/hls/${playbackId}/${rendition}/${seq}.ts`, {
      method: 'PUT',
      headers: { 'content-type': 'video/mp2t', ...segmentMetadataHeaders(meta), [CONTENT_SIGNATURE_HEADER]: signature },
      body: view(bytes),
      signal: timeout(RELAY_SEGMENT_TIMEOUT_MS),
    });
    if (!res.ok) throw await failureFromResponse(res, 'relay refused the segment', relayUrl);
    await res.body?.cancel();
  }

  /**
   * Low-latency pushes (relay/ll-push-routes.ts): `name` is `init-<seq>.mp4`, `<seq>.<part>.m4s` or
   * `<seq>.m4s`; `headers` carry the signed claims (protocol/part-metadata.ts, segment-metadata.ts).
   */
  async pushCmaf(relayUrl: string, playbackId: string, rendition: string, name: string, headers: Record<string, string>, bytes: Buffer): Promise<void> {
    const res = await this.fetch(`${relayUrl}/hls/${playbackId}/${rendition}/${name}`, {
      method: 'PUT',
      headers: { 'content-type': 'video/mp4', ...headers },
      body: view(bytes),
      signal: timeout(RELAY_SEGMENT_TIMEOUT_MS),
    });
    if (!res.ok) throw await failureFromResponse(res, `relay refused ${name}`, relayUrl);
    await res.body?.cancel();
  }

  /** Tells the relay the stream is over, so its playlists end (#EXT-X-ENDLIST) rather than go stale. */
  async endStream(relayUrl: string, playbackId: string, publisher: Identity): Promise<void> {
    const path = `/hls/${playbackId}/end`;
    const res = await this.fetch(`${relayUrl}${path}`, { method: 'POST', headers: signRequest(publisher, { method: 'POST', path, timestamp: this.now() }), signal: timeout(RELAY_END_TIMEOUT_MS) });
    if (!res.ok) throw await failureFromResponse(res, 'relay refused the end of the stream', relayUrl);
    await res.body?.cancel();
  }
}

const defaultTranscoderClient = new TranscoderClient();

/** One transcode with the global fetch (tests and benchmarks that talk to a transcoder directly). */
export function requestTranscode(transcoderUrl: string, segment: Buffer, params: TranscodeParams, timeoutMs: number, payment?: string, signal?: AbortSignal): Promise<TranscodeAnswer> {
  return defaultTranscoderClient.transcode(transcoderUrl, segment, params, timeoutMs, payment, signal);
}
