import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { unplayableInBrowsers } from './browser-support.ts';

const h264 = (profileIdc: number, chromaFormat = 1, bitDepth = 8) => ({ videoCodec: 'h264', profileIdc, chromaFormat, bitDepth });

describe('browser support of a source', () => {
  it('plays 8-bit 4:2:0 Baseline, Main and High', () => {
    for (const profile of [66, 77, 100]) assert.equal(unplayableInBrowsers(h264(profile)), null);
  });

  it('names what browsers cannot decode: High 4:4:4, High 4:2:2, High 10', () => {
    assert.equal(unplayableInBrowsers(h264(244, 3)), 'H.264 High 4:4:4 Predictive profile, 4:4:4 chroma');
    assert.equal(unplayableInBrowsers(h264(122, 2)), 'H.264 High 4:2:2 profile, 4:2:2 chroma');
    assert.equal(unplayableInBrowsers(h264(110, 1, 10)), 'H.264 High 10 profile, 10-bit');
    assert.equal(unplayableInBrowsers({ ...h264(100), videoCodec: 'hevc' }), 'hevc video');
  });
});
