// A stream's playback policy: `public` (anyone may watch) or `signed` (viewers need a JWT from the
// streamer's backend, protocol/playback-token.ts). The policy and the ES256 public keys that verify tokens
// are one document signed by the stream's publisher key (protocol/content-signature.ts), so it travels with
// the descriptor to the origin, in the directory entry, and from parents to edges, and no relay on the way
// can change it: a `public` document is only believed when the publisher signed it. Of two documents the
// one issued later wins, so an old one replayed cannot undo a newer one a relay has seen.
//
// HS256 secrets never appear here: anyone holding one can mint tokens, and this document goes to relays
// run by strangers (docs/decisions.md, "Signed playback: who verifies HS256").

import { z } from 'zod';
import { contentDigest, contentHashSigner, checkContentHash, signContentHash } from './content-signature.ts';
import { idPattern } from './fields.ts';

const POLICY_DOMAIN = 'castnet/playback-policy/1';
/** A stream rotates keys by listing old and new for a while; more is a mistake. */
export const MAX_PLAYBACK_KEYS = 4;

const b64url = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'a P-256 coordinate is 32 bytes of base64url');

/** An ES256 verification key as a JWK (RFC 7517) restricted to what a P-256 public key needs. */
export const playbackKeySchema = z.object({
  kid: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  kty: z.literal('EC'),
  crv: z.literal('P-256'),
  alg: z.literal('ES256'),
  x: b64url,
  y: b64url,
});
export type PlaybackKey = z.infer<typeof playbackKeySchema>;

export const playbackPolicySchema = z.object({
  playbackId: z.string().regex(idPattern),
  mode: z.enum(['public', 'signed']),
  keys: z.array(playbackKeySchema).max(MAX_PLAYBACK_KEYS),
  /** Milliseconds since the epoch: the newer document wins. */
  issuedAt: z.number().int().nonnegative(),
});
export type PlaybackPolicy = z.infer<typeof playbackPolicySchema>;

export const signedPlaybackPolicySchema = z.object({
  policy: playbackPolicySchema,
  /** The publisher's signature (65 bytes, 0x hex) over the policy's signing hash. */
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
});
export type SignedPlaybackPolicy = z.infer<typeof signedPlaybackPolicySchema>;

/** What a relay assumes for a stream whose publisher signed no policy (a broadcaster before signed playback). */
export const PUBLIC_POLICY_MODE = 'public';

export function policySigningHash(p: PlaybackPolicy): Uint8Array {
  return contentDigest([POLICY_DOMAIN, p.playbackId, p.mode, String(p.issuedAt), ...p.keys.map((k) => `${k.kid} ${k.alg} ${k.crv} ${k.x} ${k.y}`)]);
}

export function signPlaybackPolicy(policy: PlaybackPolicy, publisherPrivateKey: Uint8Array): SignedPlaybackPolicy {
  return { policy, signature: signContentHash(policySigningHash(policy), publisherPrivateKey) };
}

/** Who signed the document (lower case), or null for a malformed signature. */
export function policySigner(doc: SignedPlaybackPolicy): string | null {
  return contentHashSigner(policySigningHash(doc.policy), doc.signature);
}

/** Whether `publisher` signed the document. */
export function isPolicySignedBy(doc: SignedPlaybackPolicy, publisher: string): boolean {
  return checkContentHash(policySigningHash(doc.policy), doc.signature, publisher) === null;
}
