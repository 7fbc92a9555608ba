import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { decodeAmf0, encodeAmf0 } from './amf0.ts';
import { RtmpProtocolError } from './rtmp-protocol-error.ts';

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

  it('refuses values nested past the depth bound with its own error, not a stack overflow', () => {
    const deep = Buffer.alloc(300_000, 0x0a); // strict arrays, each holding the next
    for (let i = 1; i < deep.length; i += 5) deep.writeUInt32BE(1, i);
    assert.throws(() => decodeAmf0(deep), (err) => err instanceof RtmpProtocolError && /nested deeper/.test(err.message));
  });

  it('keeps a "__proto__" key as an own property instead of a prototype', () => {
    const bytes = Buffer.concat([Buffer.from([0x03, 0, 9]), Buffer.from('__proto__'), encodeAmf0({ app: 'live' }), Buffer.from([0, 0, 9])]);
    const [obj] = decodeAmf0(bytes) as [Record<string, unknown>];
    assert.equal(Object.getPrototypeOf(obj), Object.prototype);
    assert.equal((obj as { app?: unknown }).app, undefined);
    assert.deepEqual(Object.keys(obj), ['__proto__']);
  });
});
