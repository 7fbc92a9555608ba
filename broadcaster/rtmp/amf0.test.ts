import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { decodeAmf0, encodeAmf0 } from './amf0.ts';

describe('AMF0', () => {
  it('round-trips the values RTMP commands carry', () => {
    const values = ['connect', 1, { app: 'live', tcUrl: 'rtmp://127.0.0.1/live', fpad: false, nested: { n: 2.5 } }, null, undefined, [1, 'two']];
    assert.deepEqual(decodeAmf0(encodeAmf0(...values)), values);
  });

  it('decodes an ECMA array as an object (onMetaData)', () => {
    const ecma = Buffer.concat([Buffer.from([0x08, 0, 0, 0, 1]), Buffer.from([0, 5]), Buffer.from('width'), encodeAmf0(1280), Buffer.from([0, 0, 9])]);
    assert.deepEqual(decodeAmf0(ecma), [{ width: 1280 }]);
  });

  it('refuses a value that runs past the end of the message', () => {
    assert.throws(() => decodeAmf0(encodeAmf0('publish').subarray(0, 4)), /runs past the end/);
  });

  it('refuses an unknown type marker', () => {
    assert.throws(() => decodeAmf0(Buffer.from([0x42])), /unsupported marker 0x42/);
  });
});
