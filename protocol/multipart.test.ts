import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { boundaryOf, decodeMultipart, encodeMultipart, newBoundary } from './multipart.ts';

describe('multipart renditions', () => {
  it('round-trips parts whose bytes contain the boundary text and CRLFs', () => {
    const boundary = newBoundary();
    const tricky = Buffer.from(`\r\n--${boundary}\r\nnot a part\r\n\r\n`);
    const parts = [
      { headers: { 'castnet-rendition': '720p' }, body: tricky },
      { headers: { 'castnet-rendition': '360p' }, body: Buffer.alloc(0) },
    ];
    const decoded = decodeMultipart(Buffer.concat(encodeMultipart(parts, boundary)), boundary);
    assert.deepEqual(decoded.map((p) => [p.headers['castnet-rendition'], p.body.toString()]), [['720p', tricky.toString()], ['360p', '']]);
  });

  it('reports a truncated body instead of returning short media', () => {
    const boundary = newBoundary();
    const whole = Buffer.concat(encodeMultipart([{ headers: {}, body: Buffer.alloc(500, 1) }], boundary));
    assert.throws(() => decodeMultipart(whole.subarray(0, 300), boundary), /truncated part body/);
  });

  it('reads the boundary from a content type', () => {
    assert.equal(boundaryOf('multipart/mixed; boundary=abc'), 'abc');
    assert.equal(boundaryOf('multipart/mixed; boundary="q-1"'), 'q-1');
    assert.equal(boundaryOf('video/mp2t'), null);
  });
});
