import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { CastnetError, errorResponse } from './errors.ts';
import { makePlaybackToken, PlaybackTokenVerifier, requestToken, type TokenKeys, type TokenSigningKey } from './playback-token.ts';
import { isPolicySignedBy, playbackKeySchema, policySigner, signPlaybackPolicy, type PlaybackKey } from './playback-policy.ts';
import { randomIdentity } from './identity.ts';

async function es256(kid = 'k1'): Promise<{ signing: TokenSigningKey; key: PlaybackKey }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const pub = await exportJWK(publicKey);
  return { signing: { alg: 'ES256', kid, privateJwk: await exportJWK(privateKey) }, key: playbackKeySchema.parse({ kid, kty: 'EC', crv: 'P-256', alg: 'ES256', x: pub.x, y: pub.y }) };
}

async function refusal(p: Promise<unknown>): Promise<{ status: number; reason: unknown }> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(CastnetError);
    const { status, body } = errorResponse(err);
    return { status, reason: body.error.reason };
  }
  throw new Error('expected a refusal');
}

const T0 = Date.parse('2026-12-02T12:00:00Z');

describe('playback tokens', () => {
  it('admits an ES256 token naming the playback id, and answers a repeat from the cache', async () => {
    const { signing, key } = await es256();
    const keys: TokenKeys = { es256: [key], hs256: [], version: '1' };
    const v = new PlaybackTokenVerifier({ now: () => T0 });
    const token = await makePlaybackToken({ playbackId: 'pid1', key: signing, expiresInSeconds: 3600, now: T0 });
    expect(await v.verify(token, 'pid1', keys)).toBe(T0 + 3_600_000);
    expect(v.cached).toBe(1);
    expect(await v.verify(token, 'pid1', keys)).toBe(T0 + 3_600_000);
    expect(v.cached).toBe(1);
  });

  it('accepts the playback id in a pid claim', async () => {
    const { signing, key } = await es256();
    const token = await new SignJWT({ pid: 'pid1' }).setProtectedHeader({ alg: 'ES256' }).setExpirationTime(Math.floor(T0 / 1000) + 60).sign(await (await import('jose')).importJWK(signing.alg === 'ES256' ? signing.privateJwk : ({} as JWK), 'ES256'));
    await new PlaybackTokenVerifier({ now: () => T0 }).verify(token, 'pid1', { es256: [key], hs256: [], version: '1' });
  });

  it('refuses a missing token with 401 token_missing', async () => {
    expect(await refusal(new PlaybackTokenVerifier().verify(null, 'pid1', { es256: [], hs256: [], version: '1' }))).toEqual({ status: 401, reason: 'token_missing' });
  });

  it('refuses garbage with 401 token_invalid', async () => {
    const { key } = await es256();
    expect(await refusal(new PlaybackTokenVerifier().verify('not.a.jwt', 'pid1', { es256: [key], hs256: [], version: '1' }))).toEqual({ status: 401, reason: 'token_invalid' });
  });

  it('refuses alg none', async () => {
    const { key } = await es256();
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'pid1', exp: Math.floor(T0 / 1000) + 60 })}.`;
    expect(await refusal(new PlaybackTokenVerifier({ now: () => T0 }).verify(unsigned, 'pid1', { es256: [key], hs256: [], version: '1' }))).toEqual({ status: 401, reason: 'token_invalid' });
  });

  it('refuses a token whose payload was tampered with', async () => {
    const { signing, key } = await es256();
    const token = await makePlaybackToken({ playbackId: 'pid1', key: signing, expiresInSeconds: 60, now: T0 });
    const [h, , s] = token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ sub: 'pid1', exp: Math.floor(T0 / 1000) + 99_999 })).toString('base64url')}.${s}`;
    expect(await refusal(new PlaybackTokenVerifier({ now: () => T0 }).verify(forged, 'pid1', { es256: [key], hs256: [], version: '1' }))).toEqual({ status: 401, reason: 'token_invalid' });
  });

  it('refuses a token signed by a key the stream did not register', async () => {
    const { key } = await es256('k1');
    const other = await es256('k1');
    const token = await makePlaybackToken({ playbackId: 'pid1', key: other.signing, expiresInSeconds: 60, now: T0 });
    expect(await refusal(new PlaybackTokenVerifier({ now: () => T0 }).verify(token, 'pid1', { es256: [key], hs256: [], version: '1' }))).toEqual({ status: 401, reason: 'token_invalid' });
  });

  it('refuses an HS256 token at a node without the secret, and one made with the ES256 key as an HMAC secret (alg confusion)', async () => {
    const { key } = await es256();
    const secret = randomBytes(32);
    const token = await makePlaybackToken({ playbackId: 'pid1', key: { alg: 'HS256', kid: 'h', secret }, expiresInSeconds: 60, now: T0 });
    expect(await refusal(new PlaybackTokenVerifier({ now: () => T0 }).verify(token, 'pid1', { es256: [key], hs256: [], version: '1' }))).toEqual({ status: 401, reason: 'token_invalid' });
    const confused = await makePlaybackToken({ playbackId: 'pid1', key: { alg: 'HS256', kid: 'h', secret: Buffer.from(JSON.stringify(key)) }, expiresInSeconds: 60, now: T0 });
    expect(await refusal(new PlaybackTokenVerifier({ now: () => T0 }).verify(confused, 'pid1', { es256: [key], hs256: [secret], version: '1' }))).toEqual({ status: 401, reason: 'token_invalid' });
  });

  it('admits an HS256 token at a node trusted with the secret', async () => {
    const secret = randomBytes(32);
    const token = await makePlaybackToken({ playbackId: 'pid1', key: { alg: 'HS256', kid: 'h', secret }, expiresInSeconds: 60, now: T0 });
    expect(await new PlaybackTokenVerifier({ now: () => T0 }).verify(token, 'pid1', { es256: [], hs256: [randomBytes(32), secret], version: '1' })).toBe(T0 + 60_000);
  });

  it('refuses a token for another stream with 403 wrong_playback_id', async () => {
    const { signing, key } = await es256();
    const token = await makePlaybackToken({ playbackId: 'other', key: signing, expiresInSeconds: 60, now: T0 });
    expect(await refusal(new PlaybackTokenVerifier({ now: () => T0 }).verify(token, 'pid1', { es256: [key], hs256: [], version: '1' }))).toEqual({ status: 403, reason: 'wrong_playback_id' });
  });

  it('refuses an expired token with 403 token_expired, within 30 s of skew still admits it, and expires a cached verdict', async () => {
    const { signing, key } = await es256();
    const keys = { es256: [key], hs256: [], version: '1' };
    let now = T0;
    const v = new PlaybackTokenVerifier({ now: () => now });
    const token = await makePlaybackToken({ playbackId: 'pid1', key: signing, expiresInSeconds: 60, now: T0 });
    now = T0 + 60_000 + 25_000; // 25 s past exp: inside the tolerance
    await v.verify(token, 'pid1', keys);
    now = T0 + 60_000 + 31_000; // cached, but past exp + tolerance
    expect(await refusal(v.verify(token, 'pid1', keys))).toEqual({ status: 403, reason: 'token_expired' });
    expect(await refusal(new PlaybackTokenVerifier({ now: () => now }).verify(token, 'pid1', keys))).toEqual({ status: 403, reason: 'token_expired' });
  });

  it('refuses a token without exp, and one whose nbf is beyond the skew', async () => {
    const { signing, key } = await es256();
    const keys = { es256: [key], hs256: [], version: '1' };
    const priv = await (await import('jose')).importJWK(signing.alg === 'ES256' ? signing.privateJwk : ({} as JWK), 'ES256');
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject('pid1').sign(priv);
    expect(await refusal(new PlaybackTokenVerifier({ now: () => T0 }).verify(noExp, 'pid1', keys))).toEqual({ status: 401, reason: 'token_invalid' });
    const early = await makePlaybackToken({ playbackId: 'pid1', key: signing, expiresInSeconds: 600, now: T0, notBefore: T0 + 60_000 });
    expect(await refusal(new PlaybackTokenVerifier({ now: () => T0 }).verify(early, 'pid1', keys))).toEqual({ status: 401, reason: 'token_invalid' });
    const slightlyEarly = await makePlaybackToken({ playbackId: 'pid1', key: signing, expiresInSeconds: 600, now: T0, notBefore: T0 + 20_000 });
    await new PlaybackTokenVerifier({ now: () => T0 }).verify(slightlyEarly, 'pid1', keys);
  });

  it('keeps its cache bounded', async () => {
    const secret = randomBytes(32);
    const v = new PlaybackTokenVerifier({ now: () => T0, cacheEntries: 3 });
    for (let i = 0; i < 5; i++) await v.verify(await makePlaybackToken({ playbackId: 'p', key: { alg: 'HS256', kid: 'h', secret }, expiresInSeconds: 60 + i, now: T0 }), 'p', { es256: [], hs256: [secret], version: '1' });
    expect(v.cached).toBe(3);
  });

  it('reads the token from a Bearer header or the token query parameter', () => {
    expect(requestToken('Bearer abc', '')).toBe('abc');
    expect(requestToken(undefined, '_HLS_msn=3&token=xyz')).toBe('xyz');
    expect(requestToken(undefined, '_HLS_msn=3')).toBeNull();
  });
});

describe('playback policy documents', () => {
  it('are signed by the publisher, and a changed mode no longer verifies', async () => {
    const publisher = randomIdentity();
    const { key } = await es256();
    const doc = signPlaybackPolicy({ playbackId: 'pid1', mode: 'signed', keys: [key], issuedAt: T0 }, publisher.privateKey);
    expect(policySigner(doc)).toBe(publisher.address);
    expect(isPolicySignedBy(doc, publisher.address)).toBe(true);
    const forged = { ...doc, policy: { ...doc.policy, mode: 'public' as const, keys: [] } };
    expect(isPolicySignedBy(forged, publisher.address)).toBe(false);
    expect(isPolicySignedBy(signPlaybackPolicy(forged.policy, randomIdentity().privateKey), publisher.address)).toBe(false);
  });
});
