// Signed content: a segment's signature holds for exactly the fields and bytes it was made over, by the
// publisher's key only; the publisher key of a stream is fixed by the broadcaster's key and the playback id.

import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { checkSegmentSignature, CONTENT_MAX_AGE_MS, inContentWindow, publisherPrivateKey, segmentSigner, signSegment, type SegmentClaim } from './content-signature.ts';
import { identityFromPrivateKey } from './identity.ts';
import { sha256 } from './segment-signing.ts';

const key = Uint8Array.from(Buffer.from('4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318', 'hex'));
const publisher = identityFromPrivateKey(key);
const claim: SegmentClaim = { playbackId: 'abc', rendition: '720p', seq: 7, duration: 2.002, programDateTime: '2026-12-02T05:00:00.000Z', discontinuity: false, sha256: sha256(Buffer.from('segment bytes')) };

describe('content signatures', () => {
  it("recovers the publisher from its signature, and no one else's", () => {
    const signature = signSegment(claim, key);
    assert.match(signature, /^0x[0-9a-f]{130}$/);
    assert.equal(segmentSigner(claim, signature), publisher.address);
    assert.equal(checkSegmentSignature(claim, signature, publisher.address), null);
    const other = identityFromPrivateKey(secp256k1.utils.randomSecretKey());
    assert.equal(checkSegmentSignature(claim, signSegment(claim, other.privateKey), publisher.address), 'wrong_signer');
    // The same check a second time runs on the cached key.
    assert.equal(checkSegmentSignature(claim, signature, publisher.address), null);
  });

  it('fails for any field or byte other than the signed ones', () => {
    const signature = signSegment(claim, key);
    const changes: Array<Partial<SegmentClaim>> = [
      { playbackId: 'abd' },
      { rendition: '360p' },
      { seq: 8 },
      { duration: 2.003 },
      { programDateTime: '2026-12-02T05:00:02.000Z' },
      { discontinuity: true },
      { sha256: sha256(Buffer.from('segment bytez')) },
    ];
    for (const change of changes) assert.equal(checkSegmentSignature({ ...claim, ...change }, signature, publisher.address), 'wrong_signer', JSON.stringify(Object.keys(change)));
  });

  it('names a missing or malformed signature', () => {
    assert.equal(checkSegmentSignature(claim, undefined, publisher.address), 'unsigned');
    assert.equal(checkSegmentSignature(claim, '', publisher.address), 'unsigned');
    assert.equal(checkSegmentSignature(claim, '0x1234', publisher.address), 'signature_malformed');
    assert.equal(segmentSigner(claim, 'nonsense'), null);
  });

  it('derives one publisher key per stream, the same on every run, never the broadcaster key', () => {
    const a = publisherPrivateKey(key, 'abc');
    assert.deepEqual(a, publisherPrivateKey(key, 'abc'));
    assert.notDeepEqual(a, publisherPrivateKey(key, 'abd'));
    assert.notDeepEqual(a, key);
    assert.equal(a.length, 32);
    assert.ok(secp256k1.utils.isValidSecretKey(a));
  });

  it('accepts a program date time within the window of the clock, not hours away', () => {
    const now = Date.parse(claim.programDateTime);
    assert.ok(inContentWindow(claim.programDateTime, now + 10_000));
    assert.ok(!inContentWindow(claim.programDateTime, now + CONTENT_MAX_AGE_MS + 1));
    assert.ok(!inContentWindow(claim.programDateTime, now - 3_600_000));
    assert.ok(!inContentWindow('not a date', now));
  });
});
