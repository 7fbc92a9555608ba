import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { assertMpegTs } from './mpegts.ts';

const packets = (n: number) => {
  const buf = Buffer.alloc(188 * n);
  for (let i = 0; i < n; i++) buf[i * 188] = 0x47;
  return buf;
};

describe('MPEG-TS check', () => {
  it('accepts whole packets with sync bytes', () => {
    assert.doesNotThrow(() => assertMpegTs(packets(3)));
  });

  it('refuses an empty, truncated or foreign body with INVALID_SEGMENT', () => {
    assert.throws(() => assertMpegTs(Buffer.alloc(0)), { code: 'INVALID_SEGMENT', message: 'segment is empty' });
    assert.throws(() => assertMpegTs(packets(3).subarray(0, 500)), { code: 'INVALID_SEGMENT', message: /truncated: 500 bytes/ });
    const foreign = packets(2);
    foreign[188] = 0x00;
    assert.throws(() => assertMpegTs(foreign, { seq: 4 }), { code: 'INVALID_SEGMENT', message: /no sync byte at offset 188/, context: { seq: 4 } });
  });
});
