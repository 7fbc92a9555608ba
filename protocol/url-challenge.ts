// Proof that a node controls its URL: before the orchestrator schedules a node, it fetches
// `GET <url>/.well-known/castnet-challenge?nonce=<32 random bytes, hex>` and the node answers with its
// key's EIP-191 signature over keccak-256 of a versioned domain, the nonce and its address. A record
// registered (or gossiped) with someone else's URL is answered by that someone's key, so it never proves.

import { keccak_256 } from '@noble/hashes/sha3.js';
import { z } from 'zod';
import { addressString, signatureString } from './fields.ts';
import type { Identity } from './identity.ts';
import { recoverSigner, signHash, toHex } from './ticket.ts';

export const URL_CHALLENGE_DOMAIN = 'castnet/url-challenge/1';
export const URL_CHALLENGE_PATH = '/.well-known/castnet-challenge';
/** A challenge answer is a few hundred bytes; more is not one. */
export const URL_CHALLENGE_MAX_BYTES = 4_096;

export const challengeNonceSchema = z.string().regex(/^[0-9a-f]{64}$/, 'nonce must be 32 bytes of lower-case hex');

export const challengeAnswerSchema = z.object({ address: addressString, signature: signatureString });
export type ChallengeAnswer = z.infer<typeof challengeAnswerSchema>;

function challengeHash(nonce: string, address: string): Uint8Array {
  return keccak_256(new TextEncoder().encode([URL_CHALLENGE_DOMAIN, nonce, address.toLowerCase()].join('\n')));
}

/** What a node answers to a challenge. */
export function answerChallenge(nonce: string, identity: Identity): ChallengeAnswer {
  return { address: identity.address.toLowerCase(), signature: toHex(signHash(challengeHash(nonce, identity.address), identity.privateKey)) };
}

/** Whether an answer proves that `address` holds the key behind the URL that answered. */
export function provesAddress(answer: ChallengeAnswer, nonce: string, address: string): boolean {
  if (answer.address.toLowerCase() !== address.toLowerCase()) return false;
  return recoverSigner(challengeHash(nonce, address), Uint8Array.from(Buffer.from(answer.signature.slice(2), 'hex'))) === address.toLowerCase();
}
