// Signed content: every segment a stream publishes carries its publisher's signature over what a player
// relies on — playback id, rendition, sequence number, duration, program date time, discontinuity and the
// SHA-256 of the bytes — so any relay on the way and the viewer's browser can check it against the key the
// orchestrator's directory binds to the playback id. The signed message is keccak-256 of a versioned
// domain and those fields, newline-separated, signed as EIP-191 (protocol/ticket.ts's signHash): a
// signature over anything else (a ticket, a request) never reads as content. The publisher key of a stream
// is derived from the broadcaster's key and the playback id, so the directory names a key per stream and
// never the broadcaster's payment address. No Node built-ins here: the player runs this in the browser
// (the bytes' SHA-256 is the caller's, from node:crypto or WebCrypto). Hot path: every push, every pull,
// every segment a player plays.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, concatBytes, hexToBytes } from '@noble/hashes/utils.js';
import { isSignedBy, recoverSigner, signHash } from './ticket.ts';

export const CONTENT_SIGNATURE_DOMAIN = 'castnet/segment/1';
const PUBLISHER_KEY_DOMAIN = 'castnet/publisher/1';

/** The response and push header that carries a segment's signature (65 bytes, 0x hex). */
export const CONTENT_SIGNATURE_HEADER = 'castnet-content-signature';

/**
 * How old a pushed segment's program date time may be at the origin: a segment is pushed within a few
 * segment durations of its ingest (a 60 s segment behind a backlog of a few), so anything older is a replay
 * of another time of the stream.
 */
export const CONTENT_MAX_AGE_MS = 5 * 60_000;
/** How far ahead of the origin's clock it may be: clocks agree to NTP's seconds. */
export const CONTENT_MAX_LEAD_MS = 30_000;

/** What a segment's signature covers. */
export interface SegmentClaim {
  playbackId: string;
  rendition: string;
  seq: number;
  /** Seconds; signed as written in the castnet-duration header (six decimals). */
  duration: number;
  /** ISO 8601, exactly as in the castnet-program-date-time header. */
  programDateTime: string;
  discontinuity: boolean;
  /** SHA-256 of the segment's bytes. */
  sha256: Uint8Array;
}

/** Why a segment was refused: the `reason` of its refusal and of castnet_relay_content_refused_total. */
export type ContentRefusal = 'unsigned' | 'signature_malformed' | 'wrong_signer' | 'publisher_unknown' | 'out_of_window';

const SIGNATURE = /^0x[0-9a-fA-F]{130}$/;

/** keccak-256 of a claim's lines (its domain first), as every kind of signed content hashes them. */
export function contentDigest(lines: ReadonlyArray<string>): Uint8Array {
  return keccak_256(new TextEncoder().encode(lines.join('\n')));
}

/** The publisher's signature of a content hash, as the header carries it. */
export function signContentHash(hash: Uint8Array, privateKey: Uint8Array): string {
  return `0x${bytesToHex(signHash(hash, privateKey))}`;
}

function signatureBytes(signature: string | null | undefined): Uint8Array | null {
  return signature && SIGNATURE.test(signature) ? hexToBytes(signature.slice(2)) : null;
}

/**
 * Why a content hash is not signed by `publisher`, or null when it is. After the first check of a publisher
 * its public key is cached with precomputed tables (ticket.ts's isSignedBy), so a check is one verification.
 */
export function checkContentHash(hash: Uint8Array, signature: string | null | undefined, publisher: string): ContentRefusal | null {
  if (signature === null || signature === undefined || signature === '') return 'unsigned';
  const bytes = signatureBytes(signature);
  if (!bytes) return 'signature_malformed';
  return isSignedBy(hash, bytes, publisher.toLowerCase()) ? null : 'wrong_signer';
}

export function segmentSigningHash(c: SegmentClaim): Uint8Array {
  return contentDigest([CONTENT_SIGNATURE_DOMAIN, c.playbackId, c.rendition, String(c.seq), c.duration.toFixed(6), c.programDateTime, c.discontinuity ? '1' : '0', bytesToHex(c.sha256)]);
}

/** The publisher's signature of a segment, as the header carries it. */
export function signSegment(c: SegmentClaim, privateKey: Uint8Array): string {
  return signContentHash(segmentSigningHash(c), privateKey);
}

/** Who signed a content hash (lower case), or null for a missing or malformed signature. */
export function contentHashSigner(hash: Uint8Array, signature: string | null | undefined): string | null {
  const bytes = signatureBytes(signature);
  return bytes ? recoverSigner(hash, bytes) : null;
}

/** Who signed the segment (lower case), or null for a missing or malformed signature. */
export function segmentSigner(c: SegmentClaim, signature: string | null | undefined): string | null {
  return contentHashSigner(segmentSigningHash(c), signature);
}

/** Why the segment is not `publisher`'s, or null when it is. */
export function checkSegmentSignature(c: SegmentClaim, signature: string | null | undefined, publisher: string): ContentRefusal | null {
  return checkContentHash(segmentSigningHash(c), signature, publisher);
}

/** Whether a segment's program date time is within the origin's window of `now`. */
export function inContentWindow(programDateTime: string, now: number): boolean {
  const at = Date.parse(programDateTime);
  return Number.isFinite(at) && at >= now - CONTENT_MAX_AGE_MS && at <= now + CONTENT_MAX_LEAD_MS;
}

const N = secp256k1.Point.CURVE().n;

/**
 * The publisher key of one stream: keccak-256 of a domain, the broadcaster's private key and the playback
 * id, read as a scalar in [1, n-1]. Deterministic, so it survives restarts without being stored; one per
 * stream, so the directory links no two streams of a broadcaster nor any of them to its payments.
 */
export function publisherPrivateKey(broadcasterPrivateKey: Uint8Array, playbackId: string): Uint8Array {
  const digest = keccak_256(concatBytes(new TextEncoder().encode(`${PUBLISHER_KEY_DOMAIN}\n${playbackId}\n`), broadcasterPrivateKey));
  const scalar = (BigInt(`0x${bytesToHex(digest)}`) % (N - 1n)) + 1n;
  return hexToBytes(scalar.toString(16).padStart(64, '0'));
}
