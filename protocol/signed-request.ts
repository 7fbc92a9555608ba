// Signed requests: every state-changing request to the orchestrator carries the address it speaks for, a
// timestamp and that key's EIP-191 signature over keccak-256 of a versioned domain, the method, the path
// with its query, keccak-256 of the exact body bytes, the timestamp and the address (newline-separated),
// in three headers. The verifier checks them over the raw body as received, refuses a timestamp more than
// SIGNED_REQUEST_MAX_SKEW_MS from its clock, and remembers every request it accepted for as long as its
// timestamp could still pass, so a replay inside that window is refused too. Hot path: every write.

import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { CastnetError } from './errors.ts';
import type { Identity } from './identity.ts';
import { recoverSigner, signHash, toHex } from './ticket.ts';

/** Versioned domain of the signed message: a signature over anything else (a ticket, a withdrawal) never reads as a request. */
export const SIGNED_REQUEST_DOMAIN = 'castnet/request/1';

export const SIGNED_REQUEST_HEADERS = {
  address: 'castnet-signer',
  timestamp: 'castnet-timestamp',
  signature: 'castnet-signature',
} as const;

/** How far a request's timestamp may be from the verifier's clock, either way: clocks of nodes agree to NTP's seconds, a request takes under a second. */
export const SIGNED_REQUEST_MAX_SKEW_MS = 30_000;

/** Requests remembered against replays at most; past it, new ones are refused until old ones age out. */
export const MAX_REMEMBERED_REQUESTS = 200_000;

export interface RequestToSign {
  method: string;
  /** Path and query exactly as sent (`/api/nodes/0xab…/heartbeat`, `/api/streams?x=1`). */
  path: string;
  body: Uint8Array;
  timestamp: number;
  /** Lower case. */
  address: string;
}

const EMPTY = new Uint8Array(0);

export function signedRequestHash(r: RequestToSign): Uint8Array {
  const lines = [SIGNED_REQUEST_DOMAIN, r.method.toUpperCase(), r.path, toHex(keccak_256(r.body)), String(r.timestamp), r.address.toLowerCase()];
  return keccak_256(new TextEncoder().encode(lines.join('\n')));
}

/** The headers that sign `method path body` as `identity` at `timestamp`. */
export function signRequest(identity: Identity, request: { method: string; path: string; body?: Uint8Array; timestamp: number }): Record<string, string> {
  const address = identity.address.toLowerCase();
  const hash = signedRequestHash({ ...request, body: request.body ?? EMPTY, address });
  return {
    [SIGNED_REQUEST_HEADERS.address]: address,
    [SIGNED_REQUEST_HEADERS.timestamp]: String(request.timestamp),
    [SIGNED_REQUEST_HEADERS.signature]: toHex(signHash(hash, identity.privateKey)),
  };
}

/** Why a signed request was refused: the `reason` of its SIGNATURE_INVALID (or UNAVAILABLE for `busy`). */
export type SignatureRefusal = 'signature_missing' | 'signature_malformed' | 'signature_stale' | 'signature_replayed' | 'signature_invalid' | 'signature_busy';

export interface ReceivedRequest {
  method: string;
  path: string;
  body: Uint8Array;
  header(name: string): string | undefined;
}

/** Whether a request carries any of the signature headers (a signed request that must then verify). */
export function hasSignature(request: Pick<ReceivedRequest, 'header'>): boolean {
  return Object.values(SIGNED_REQUEST_HEADERS).some((h) => request.header(h) !== undefined);
}

export class RequestVerifier {
  /** Hash of each accepted request → when it was accepted; Map order is acceptance order. */
  private readonly seen = new Map<string, number>();
  private readonly maxSkewMs: number;
  private readonly maxRemembered: number;
  private readonly now: () => number;

  constructor(options: { maxSkewMs?: number; maxRemembered?: number; now?: () => number } = {}) {
    this.maxSkewMs = options.maxSkewMs ?? SIGNED_REQUEST_MAX_SKEW_MS;
    this.maxRemembered = options.maxRemembered ?? MAX_REMEMBERED_REQUESTS;
    this.now = options.now ?? Date.now;
  }

  get remembered(): number {
    return this.seen.size;
  }

  /** The signer's address (lower case), or SIGNATURE_INVALID with the reason. */
  verify(request: ReceivedRequest): string {
    const address = request.header(SIGNED_REQUEST_HEADERS.address);
    const timestampText = request.header(SIGNED_REQUEST_HEADERS.timestamp);
    const signature = request.header(SIGNED_REQUEST_HEADERS.signature);
    if (address === undefined || timestampText === undefined || signature === undefined) {
      throw refused('signature_missing', `this request changes state and must be signed: headers ${Object.values(SIGNED_REQUEST_HEADERS).join(', ')} (protocol/signed-request.ts)`);
    }
    if (!/^0x[0-9a-fA-F]{40}$/.test(address) || !/^\d{1,16}$/.test(timestampText) || !/^0x[0-9a-fA-F]{130}$/.test(signature)) {
      throw refused('signature_malformed', 'the signature headers are malformed: an address, a timestamp in milliseconds and a 65-byte hex signature');
    }
    const timestamp = Number(timestampText);
    const now = this.now();
    const skew = Math.abs(now - timestamp);
    if (skew > this.maxSkewMs) {
      throw refused('signature_stale', `the request was signed ${Math.round(skew / 1000)} s from this orchestrator's clock (at most ${this.maxSkewMs / 1000} s): sign it again, and check the clock`);
    }
    const hash = signedRequestHash({ method: request.method, path: request.path, body: request.body, timestamp, address });
    const key = bytesToHex(hash);
    this.forget(now);
    if (this.seen.has(key)) throw refused('signature_replayed', 'this signed request was already received (a replay): sign each request afresh');
    const bytes = Uint8Array.from(Buffer.from(signature.slice(2), 'hex'));
    if (recoverSigner(hash, bytes) !== address.toLowerCase()) {
      throw refused('signature_invalid', 'the signature does not match the request and its signer (method, path, body, timestamp and address are all signed)');
    }
    if (this.seen.size >= this.maxRemembered) {
      throw new CastnetError('UNAVAILABLE', 'too many signed requests in the replay window: retry shortly', { reason: 'signature_busy' });
    }
    this.seen.set(key, now);
    return address.toLowerCase();
  }

  /** Drops requests whose timestamp can no longer pass: accepted more than twice the skew ago. */
  private forget(now: number): void {
    const cutoff = now - 2 * this.maxSkewMs;
    for (const [key, at] of this.seen) {
      if (at >= cutoff) break;
      this.seen.delete(key);
    }
  }
}

function refused(reason: SignatureRefusal, message: string): CastnetError {
  return new CastnetError('SIGNATURE_INVALID', message, { reason });
}
