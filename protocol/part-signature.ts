// Signed low-latency content (LL-HLS over CMAF): the publisher signs each part (EXT-X-PART) and each init
// segment (EXT-X-MAP) as it signs whole segments (content-signature.ts), so an origin, every edge and the
// player can check a part before anyone plays it. Separate domains, so a part's signature never reads as a
// segment's or an init's. A part's claim: playback id, rendition, segment sequence, part index, duration,
// whether it starts with a keyframe (INDEPENDENT=YES) and the SHA-256 of its bytes. An init's claim:
// playback id, rendition, the first sequence number it applies to, the stream's part target and its bytes.
// No Node built-ins: the player runs this in the browser. Hot path: every part pushed, pulled and played.

import { bytesToHex } from '@noble/hashes/utils.js';
import { checkContentHash, contentDigest, contentHashSigner, signContentHash } from './content-signature.ts';

export const PART_SIGNATURE_DOMAIN = 'castnet/part/1';
export const INIT_SIGNATURE_DOMAIN = 'castnet/init/1';

/** Headers that carry a part's and an init's claims (the signature is castnet-content-signature, as for segments). */
export const PART_HEADERS = {
  duration: 'castnet-duration',
  independent: 'castnet-independent',
  partTarget: 'castnet-part-target',
} as const;

/** Parts of one segment: a 60 s segment of 0.33 s parts is 180; more is refused. */
export const MAX_PARTS_PER_SEGMENT = 200;
/** PART-TARGET bounds (seconds): LL-HLS parts are fractions of a second. */
export const MIN_PART_TARGET_S = 0.1;
export const MAX_PART_TARGET_S = 2;

export interface PartClaim {
  playbackId: string;
  rendition: string;
  seq: number;
  part: number;
  /** Seconds; signed as written in the castnet-duration header (six decimals). */
  duration: number;
  independent: boolean;
  sha256: Uint8Array;
}

export interface InitClaim {
  playbackId: string;
  rendition: string;
  /** The first segment sequence number this init segment applies to (its URL: init-<seq>.mp4). */
  seq: number;
  /** The stream's PART-TARGET in seconds (three decimals). */
  partTarget: number;
  sha256: Uint8Array;
}

export function partSigningHash(c: PartClaim): Uint8Array {
  return contentDigest([PART_SIGNATURE_DOMAIN, c.playbackId, c.rendition, String(c.seq), String(c.part), c.duration.toFixed(6), c.independent ? '1' : '0', bytesToHex(c.sha256)]);
}

export function initSigningHash(c: InitClaim): Uint8Array {
  return contentDigest([INIT_SIGNATURE_DOMAIN, c.playbackId, c.rendition, String(c.seq), c.partTarget.toFixed(3), bytesToHex(c.sha256)]);
}

export const signPart = (c: PartClaim, privateKey: Uint8Array): string => signContentHash(partSigningHash(c), privateKey);
export const signInit = (c: InitClaim, privateKey: Uint8Array): string => signContentHash(initSigningHash(c), privateKey);

export const checkPartSignature = (c: PartClaim, signature: string | null | undefined, publisher: string) => checkContentHash(partSigningHash(c), signature, publisher);
export const checkInitSignature = (c: InitClaim, signature: string | null | undefined, publisher: string) => checkContentHash(initSigningHash(c), signature, publisher);

/** Who signed (lower case), or null for a missing or malformed signature: the first signer binds a stream without a directory. */
export function partSigner(c: PartClaim, signature: string | null | undefined): string | null {
  return contentHashSigner(partSigningHash(c), signature);
}

export function initSigner(c: InitClaim, signature: string | null | undefined): string | null {
  return contentHashSigner(initSigningHash(c), signature);
}
