import assert from 'node:assert/strict';
import { beforeAll, describe, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { identityFromPrivateKey } from '../protocol/identity.ts';
import { signInit, signPart } from '../protocol/part-signature.ts';
import { sha256 } from '../protocol/segment-signing.ts';
import { signSegment } from '../protocol/content-signature.ts';
import { SegmentVerifier } from './segment-verifier.ts';

const publisher = identityFromPrivateKey(secp256k1.utils.randomSecretKey());
const other = identityFromPrivateKey(secp256k1.utils.randomSecretKey());
const base = 'http://127.0.0.1:8935/hls/abc/source';
const bytes = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
const buffer = () => bytes.slice().buffer;

function partHeaders(key: Uint8Array, over: Partial<{ seq: number; part: number; duration: number; independent: boolean; body: Uint8Array }> = {}): (h: string) => string | null {
  const claim = { playbackId: 'abc', rendition: 'source', seq: 7, part: 2, duration: 0.334, independent: false, sha256: sha256(over.body ?? bytes), ...over };
  const headers: Record<string, string> = { 'castnet-duration': claim.duration.toFixed(6), 'castnet-independent': claim.independent ? '1' : '0', 'castnet-content-signature': signPart(claim, key) };
  return (h) => headers[h] ?? null;
}

const frag = { sn: 7, duration: 2, programDateTime: null };
const part = { index: 2, duration: 0.334, independent: false };

describe('SegmentVerifier on low-latency parts and init segments', () => {
  beforeAll(() => {
    // The browser's location, which relative URLs resolve against.
    (globalThis as { location?: { href: string } }).location ??= { href: 'http://127.0.0.1:8935/watch/abc' };
  });

  it("accepts a part signed by the publisher whose claims match the playlist's EXT-X-PART", async () => {
    const v = new SegmentVerifier(Promise.resolve({ address: publisher.address, source: 'directory' }));
    assert.equal(await v.verify(`${base}/7.2.m4s`, buffer(), partHeaders(publisher.privateKey), frag, part), null);
    assert.deepEqual(v.state.verifiedParts, { source: ['7.2'] });
  });

  it('refuses a tampered part, one signed by another key, and one whose playlist claims disagree', async () => {
    const v = new SegmentVerifier(Promise.resolve({ address: publisher.address, source: 'directory' }));
    const tampered = bytes.slice();
    tampered[0] = 9;
    assert.equal(await v.verify(`${base}/7.2.m4s`, tampered.buffer, partHeaders(publisher.privateKey), frag, part), 'wrong_signer');
    assert.equal(await v.verify(`${base}/7.2.m4s`, buffer(), partHeaders(other.privateKey), frag, part), 'wrong_signer');
    assert.equal(await v.verify(`${base}/7.3.m4s`, buffer(), partHeaders(publisher.privateKey), frag, part), 'sequence_mismatch');
    assert.equal(await v.verify(`${base}/7.2.m4s`, buffer(), partHeaders(publisher.privateKey), frag, { ...part, duration: 0.3 }), 'duration_mismatch');
    assert.equal(await v.verify(`${base}/7.2.m4s`, buffer(), partHeaders(publisher.privateKey), frag, { ...part, independent: true }), 'independent_mismatch');
    assert.equal(await v.verify(`${base}/7.2.m4s`, buffer(), () => null, frag, part), 'unsigned');
    assert.equal(v.state.refused, 6);
    assert.equal(v.state.verified, 0);
  });

  it('accepts a signed init segment and refuses a tampered one', async () => {
    const v = new SegmentVerifier(Promise.resolve({ address: publisher.address, source: 'directory' }));
    const signature = signInit({ playbackId: 'abc', rendition: 'source', seq: 4, partTarget: 0.334, sha256: sha256(bytes) }, publisher.privateKey);
    const headers = (h: string) => ({ 'castnet-part-target': '0.334', 'castnet-content-signature': signature })[h] ?? null;
    const init = { sn: 'initSegment' as const, duration: 0, programDateTime: null };
    assert.equal(await v.verify(`${base}/init-4.mp4`, buffer(), headers, init), null);
    assert.equal(v.state.verifiedInits, 1);
    assert.equal(await v.verify(`${base}/init-5.mp4`, buffer(), headers, init), 'wrong_signer', 'an init signed for another sequence');
    const tampered = bytes.slice();
    tampered[3] = 0;
    assert.equal(await v.verify(`${base}/init-4.mp4`, tampered.buffer, headers, init), 'wrong_signer');
  });

  it("checks a segment's signed duration against the EXTINF the playlist listed, not hls.js's duration, which it resets from the media's timestamps", async () => {
    const v = new SegmentVerifier(Promise.resolve({ address: publisher.address, source: 'directory' }));
    const programDateTime = '2026-12-02T10:00:00.000Z';
    const claim = { playbackId: 'abc', rendition: 'source', seq: 9, duration: 2, programDateTime, discontinuity: false, sha256: sha256(bytes) };
    const headers = (h: string) => ({ 'castnet-duration': '2.000000', 'castnet-program-date-time': programDateTime, 'castnet-discontinuity': '0', 'castnet-content-signature': signSegment(claim, publisher.privateKey) })[h] ?? null;
    // hls.js moved the fragment's duration to what the timestamps say (1.967 s); the playlist said 2.000.
    const adjusted = { sn: 9, duration: 1.967, programDateTime: Date.parse(programDateTime), tagList: [['INF', '2.000']] };
    assert.equal(await v.verify(`${base}/9.ts`, buffer(), headers, adjusted), null);
    assert.equal(await v.verify(`${base}/9.ts`, buffer(), headers, { ...adjusted, tagList: [['INF', '1.500']] }), 'duration_mismatch', 'a playlist that lists another EXTINF than was signed');
  });
});
