// Test support for pushing to relays as a stream's publisher does: a publisher key, its signed descriptor
// and end requests, and the metadata and content-signature headers of each segment (protocol/
// content-signature.ts). Program date times are the wall clock's, so they are in the relay's window.
//
//   const publisher = new TestPublisher();
//   await publisher.descriptor(relay.url, 'abc', descriptor);
//   assert.equal((await publisher.segment(relay.url, 'abc', 'source', 0, ts)).status, 201);

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { identityFromPrivateKey, type Identity } from '../../protocol/identity.ts';
import { segmentMetadataHeaders, type SegmentMetadata } from '../../protocol/segment-metadata.ts';
import { CONTENT_SIGNATURE_HEADER } from '../../protocol/content-signature.ts';
import { signSegmentBytes } from '../../protocol/segment-signing.ts';
import { signRequest } from '../../protocol/signed-request.ts';

export class TestPublisher {
  readonly identity: Identity;

  constructor(identity: Identity = identityFromPrivateKey(secp256k1.utils.randomSecretKey())) {
    this.identity = identity;
  }

  get address(): string {
    return this.identity.address;
  }

  /** A segment's metadata at the wall clock: `duration` s long, starting now. */
  meta(duration = 2, discontinuity = false): SegmentMetadata {
    return { duration, programDateTime: new Date().toISOString(), discontinuity };
  }

  /** The headers of a signed push of `bytes` as `playbackId/rendition/seq`. */
  headers(playbackId: string, rendition: string, seq: number, bytes: Uint8Array, meta: SegmentMetadata = this.meta()): Record<string, string> {
    return { 'content-type': 'video/mp2t', ...segmentMetadataHeaders(meta), [CONTENT_SIGNATURE_HEADER]: signSegmentBytes(this.identity.privateKey, { playbackId, rendition, seq }, meta, bytes) };
  }

  segment(relayUrl: string, playbackId: string, rendition: string, seq: number, bytes: Uint8Array<ArrayBuffer>, meta?: SegmentMetadata): Promise<Response> {
    return fetch(`${relayUrl}/hls/${playbackId}/${rendition}/${seq}.ts`, { method: 'PUT', headers: this.headers(playbackId, rendition, seq, bytes, meta), body: bytes });
  }

  /** `PUT /hls/<id>` signed by the publisher key; `body` as is (a test may send a bad one). */
  descriptor(relayUrl: string, playbackId: string, body: unknown): Promise<Response> {
    const path = `/hls/${playbackId}`;
    const bytes = new TextEncoder().encode(JSON.stringify(body));
    return fetch(`${relayUrl}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json', ...signRequest(this.identity, { method: 'PUT', path, body: bytes, timestamp: Date.now() }) }, body: bytes });
  }

  end(relayUrl: string, playbackId: string): Promise<Response> {
    const path = `/hls/${playbackId}/end`;
    return fetch(`${relayUrl}${path}`, { method: 'POST', headers: signRequest(this.identity, { method: 'POST', path, timestamp: Date.now() }) });
  }
}
