// Node's side of signed content (protocol/content-signature.ts): the SHA-256 of a segment's bytes from
// node:crypto, and signing or checking a segment as it is pushed or pulled. The browser hashes with
// WebCrypto instead, so this file stays out of the player's bundle. Hot path: every push and pull.

import { createHash } from 'node:crypto';
import { checkSegmentSignature, signSegment, type ContentRefusal } from './content-signature.ts';
import type { SegmentMetadata } from './segment-metadata.ts';

export interface SegmentAddress {
  playbackId: string;
  rendition: string;
  seq: number;
}

export function sha256(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest();
}

/** The publisher's signature of one segment (the castnet-content-signature header). */
export function signSegmentBytes(privateKey: Uint8Array, at: SegmentAddress, meta: SegmentMetadata, bytes: Uint8Array): string {
  return signSegment({ ...at, ...meta, sha256: sha256(bytes) }, privateKey);
}

/** Why the segment is not `publisher`'s as it stands, or null when it is. */
export function checkSegmentBytes(publisher: string, at: SegmentAddress, meta: SegmentMetadata, bytes: Uint8Array, signature: string | null | undefined): ContentRefusal | null {
  if (!signature) return 'unsigned';
  return checkSegmentSignature({ ...at, ...meta, sha256: sha256(bytes) }, signature, publisher);
}
