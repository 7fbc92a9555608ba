// HTTP clients for the data path out of the broadcaster: segments to a transcoder (renditions back as
// multipart), and descriptors and segments to a relay. Hot path: one call per segment and rendition.

import { CastnetError, isErrorCode } from '../protocol/errors.ts';
import { boundaryOf, decodeMultipart } from '../protocol/multipart.ts';
import { segmentMetadataHeaders, type SegmentMetadata } from '../protocol/segment-metadata.ts';
import type { StreamDescriptor } from '../protocol/stream-record.ts';
import { TRANSCODE_HEADERS, transcodeHeaders, type TranscodeParams } from '../protocol/transcode-request.ts';
import { PARAMS_SPENT_HEADER, PAYMENT_HEADER } from '../protocol/payment.ts';

/** A view of the same memory, typed as fetch wants: segment bytes are never copied on the way out. */
const view = (bytes: Buffer) => new Uint8Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.length);

async function failure(res: Response, what: string, node: string): Promise<CastnetError> {
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string; reason?: string } };
  const code = isErrorCode(body.error?.code) ? body.error.code : 'UPSTREAM_FAILED';
  return new CastnetError(code, `${what}: ${res.status} ${body.error?.message ?? res.statusText}`, { node, status: res.status, ...(body.error?.reason ? { reason: body.error.reason } : {}) });
}

export interface TranscodeAnswer {
  renditions: Map<string, Buffer>;
  /** The transcoder says the ticket parameters used are spent (a ticket won). */
  paramsSpent: boolean;
}

export async function requestTranscode(transcoderUrl: string, segment: Buffer, params: TranscodeParams, timeoutMs: number, payment?: string, signal?: AbortSignal): Promise<TranscodeAnswer> {
  const res = await fetch(`${transcoderUrl}/transcode`, {
    method: 'POST',
    headers: { 'content-type': 'video/mp2t', ...transcodeHeaders(params), ...(payment ? { [PAYMENT_HEADER]: payment } : {}) },
    body: view(segment),
    signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw await failure(res, 'transcoder refused the segment', transcoderUrl);
  const boundary = boundaryOf(res.headers.get('content-type'));
  if (!boundary) throw new CastnetError('UPSTREAM_FAILED', 'transcoder answered without a multipart body', { node: transcoderUrl });
  const parts = decodeMultipart(Buffer.from(await res.arrayBuffer()), boundary);
  return { renditions: new Map(parts.map((p) => [p.headers[TRANSCODE_HEADERS.rendition] ?? '', p.body])), paramsSpent: res.headers.get(PARAMS_SPENT_HEADER) === '1' };
}

export async function pushDescriptor(relayUrl: string, descriptor: StreamDescriptor): Promise<void> {
  const res = await fetch(`${relayUrl}/hls/${descriptor.playbackId}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(descriptor),
    signal: AbortSignal.timeout(5_000),
  });
  if (!res.ok) throw await failure(res, 'relay refused the stream descriptor', relayUrl);
}

export async function pushSegment(relayUrl: string, playbackId: string, rendition: string, seq: number, meta: SegmentMetadata, bytes: Buffer): Promise<void> {
  const res = await fetch(`${relayUrl}/hls/${playbackId}/${rendition}/${seq}.ts`, {
    method: 'PUT',
    headers: { 'content-type': 'video/mp2t', ...segmentMetadataHeaders(meta) },
    body: view(bytes),
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw await failure(res, 'relay refused the segment', relayUrl);
}
