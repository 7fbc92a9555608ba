// Playback tokens for streams whose policy is `signed` (protocol/playback-policy.ts): a JWT (RFC 7519) the
// streamer's backend makes, naming the playback id (`sub`, or a `pid` claim) and an expiry (`exp`, required;
// `nbf` optional), signed ES256 with a key the policy lists or HS256 with a secret only trusted nodes hold.
// Verification is jose's (no hand-written crypto); this file picks the key, names the refusal and caches
// what it verified. Hot path: every viewer request of a signed stream, so a verified token is remembered
// (bounded LRU keyed by the token's SHA-256, until its expiry) and a repeat costs one hash and one map lookup.

import { createHash } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, errors, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { CastnetError } from './errors.ts';
import type { PlaybackKey } from './playback-policy.ts';

/** Why a viewer request of a signed stream was refused: the `reason` of its JSON answer. */
export type TokenRefusal = 'token_missing' | 'token_expired' | 'token_invalid' | 'wrong_playback_id';

/** Clocks of the streamer's backend and of relays agree to NTP's seconds; 30 s is the most the contract allows. */
export const TOKEN_CLOCK_TOLERANCE_S = 30;
/** A JWT with a P-256 signature and a few claims is a few hundred bytes; far more is not a token. */
export const MAX_TOKEN_CHARS = 4_096;
const CACHE_ENTRIES = 10_000;

/** The keys a node verifies one stream's tokens with: the policy's ES256 keys, and HS256 secrets where it is trusted with them. */
export interface TokenKeys {
  es256: readonly PlaybackKey[];
  hs256: readonly Uint8Array[];
  /** Changes when the keys change (the policy's issuedAt), so a cached verdict never outlives its keys. */
  version: string;
}

const STATUS: Record<TokenRefusal, 'UNAUTHORIZED' | 'FORBIDDEN'> = {
  token_missing: 'UNAUTHORIZED',
  token_invalid: 'UNAUTHORIZED',
  token_expired: 'FORBIDDEN',
  wrong_playback_id: 'FORBIDDEN',
};

export function tokenRefusal(reason: TokenRefusal, message: string, playbackId: string): CastnetError {
  return new CastnetError(STATUS[reason], message, { playbackId, reason });
}

/** The token of a request: `Authorization: Bearer …` or the `token` query parameter (what players use: no CORS preflight). */
export function requestToken(authorization: string | string[] | undefined, query: string): string | null {
  const header = Array.isArray(authorization) ? authorization[0] : authorization;
  if (header && /^bearer /i.test(header)) return header.slice(7).trim() || null;
  if (!query || !query.includes('token=')) return null;
  return new URLSearchParams(query).get('token') || null;
}

export interface PlaybackTokenVerifierOptions {
  now?: () => number;
  cacheEntries?: number;
}

export class PlaybackTokenVerifier {
  private readonly now: () => number;
  private readonly maxEntries: number;
  /** token hash | playback id | keys version → the token's expiry (ms); Map order is recency. */
  private readonly verified = new Map<string, number>();
  private readonly jwks = new Map<string, ReturnType<typeof createLocalJWKSet>>();

  constructor(options: PlaybackTokenVerifierOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxEntries = options.cacheEntries ?? CACHE_ENTRIES;
  }

  get cached(): number {
    return this.verified.size;
  }

  /** Resolves with the token's expiry (ms) when it admits `playbackId`; rejects with a CastnetError whose reason is a TokenRefusal. */
  async verify(token: string | null, playbackId: string, keys: TokenKeys): Promise<number> {
    if (!token) throw tokenRefusal('token_missing', 'this stream plays with a token from its streamer: pass ?token=… or Authorization: Bearer …', playbackId);
    if (token.length > MAX_TOKEN_CHARS) throw tokenRefusal('token_invalid', `a playback token is at most ${MAX_TOKEN_CHARS} characters`, playbackId);
    const cacheKey = `${createHash('sha256').update(token).digest('base64url')}|${playbackId}|${keys.version}`;
    const now = this.now();
    const hit = this.verified.get(cacheKey);
    if (hit !== undefined) {
      this.verified.delete(cacheKey);
      if (now > hit + TOKEN_CLOCK_TOLERANCE_S * 1_000) throw expired(playbackId);
      this.verified.set(cacheKey, hit);
      return hit;
    }
    const exp = await this.check(token, playbackId, keys, now);
    if (this.verified.size >= this.maxEntries) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(cacheKey, exp);
    return exp;
  }

  private async check(token: string, playbackId: string, keys: TokenKeys, now: number): Promise<number> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw tokenRefusal('token_invalid', 'the playback token is not a JWT', playbackId);
    }
    if (alg !== 'ES256' && alg !== 'HS256') throw tokenRefusal('token_invalid', `playback tokens are signed ES256 or HS256, not ${String(alg)}`, playbackId);
    const options = { algorithms: [alg], clockTolerance: TOKEN_CLOCK_TOLERANCE_S, requiredClaims: ['exp'], currentDate: new Date(now) };
    let payload: { sub?: unknown; pid?: unknown; exp?: number };
    try {
      if (alg === 'ES256') {
        if (keys.es256.length === 0) throw tokenRefusal('token_invalid', 'this stream registered no ES256 key', playbackId);
        payload = (await jwtVerify(token, this.keySet(keys), options)).payload;
      } else {
        if (keys.hs256.length === 0) throw tokenRefusal('token_invalid', 'this node verifies HS256 tokens of no stream: relays of the open network get ES256 public keys only (use an ES256 key, or a relay trusted with the secret)', playbackId);
        payload = await firstVerified(token, keys.hs256, options);
      }
    } catch (err) {
      if (err instanceof CastnetError) throw err;
      if (err instanceof errors.JWTExpired) throw expired(playbackId);
      if (err instanceof errors.JWTClaimValidationFailed) throw tokenRefusal('token_invalid', `the playback token's ${err.claim} claim ${err.claim === 'nbf' ? 'is in the future' : 'is missing or malformed'}`, playbackId);
      throw tokenRefusal('token_invalid', 'the playback token is not signed by a key this stream registered', playbackId);
    }
    const named = typeof payload.pid === 'string' ? payload.pid : payload.sub;
    if (named !== playbackId) throw tokenRefusal('wrong_playback_id', 'the playback token is for another stream', playbackId);
    return payload.exp! * 1_000;
  }

  private keySet(keys: TokenKeys): ReturnType<typeof createLocalJWKSet> {
    const cacheKey = `${keys.version}|${keys.es256.map((k) => k.kid).join(',')}`;
    let set = this.jwks.get(cacheKey);
    if (!set) {
      if (this.jwks.size >= 1_000) this.jwks.clear();
      set = createLocalJWKSet({ keys: keys.es256.map((k) => ({ ...k, use: 'sig' }) as JWK) });
      this.jwks.set(cacheKey, set);
    }
    return set;
  }
}

function expired(playbackId: string): CastnetError {
  return tokenRefusal('token_expired', 'the playback token has expired: ask the streamer for a new one', playbackId);
}

async function firstVerified(token: string, secrets: readonly Uint8Array[], options: Parameters<typeof jwtVerify>[2]): Promise<{ sub?: unknown; pid?: unknown; exp?: number }> {
  let last: unknown;
  for (const secret of secrets) {
    try {
      return (await jwtVerify(token, secret, options)).payload;
    } catch (err) {
      // Only a wrong secret tries the next: an expired token is expired under every secret.
      if (!(err instanceof errors.JWSSignatureVerificationFailed)) throw err;
      last = err;
    }
  }
  throw last;
}

/** How a token is signed: an ES256 private key (JWK) or an HS256 secret. */
export type TokenSigningKey = { alg: 'ES256'; kid: string; privateJwk: JWK } | { alg: 'HS256'; kid: string; secret: Uint8Array };

/** A playback token, as the streamer's backend makes one (`castnet keys token`, the README's sample). */
export async function makePlaybackToken(input: { playbackId: string; key: TokenSigningKey; expiresInSeconds: number; now?: number; notBefore?: number }): Promise<string> {
  const now = Math.floor((input.now ?? Date.now()) / 1_000);
  const jwt = new SignJWT({}).setProtectedHeader({ alg: input.key.alg, kid: input.key.kid, typ: 'JWT' }).setSubject(input.playbackId).setIssuedAt(now).setExpirationTime(now + input.expiresInSeconds);
  if (input.notBefore !== undefined) jwt.setNotBefore(Math.floor(input.notBefore / 1_000));
  return jwt.sign(input.key.alg === 'ES256' ? await importJWK(input.key.privateJwk, 'ES256') : input.key.secret);
}
