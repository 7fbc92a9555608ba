import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { avcCodecString, avcLevelFor, codecString } from './codec-string.ts';

describe('codec strings', () => {
  it('writes RFC 6381 strings from ffprobe profiles and levels', () => {
    assert.equal(avcCodecString('High', 31), 'avc1.64001f');
    assert.equal(avcCodecString('Constrained Baseline', 30), 'avc1.42e01e');
    assert.equal(codecString({ codec_name: 'h264', profile: 'Main', level: 40 }, { codec_name: 'aac', profile: 'LC' }), 'avc1.4d4028,mp4a.40.2');
    assert.equal(codecString({ codec_name: 'h264', profile: 'High', level: 42 }), 'avc1.64002a');
  });

  it('picks the smallest H.264 level for a resolution and frame rate', () => {
    assert.equal(avcLevelFor(640, 360, 30), 30);
    assert.equal(avcLevelFor(854, 480, 30), 31);
    assert.equal(avcLevelFor(1280, 720, 30), 31);
    assert.equal(avcLevelFor(1280, 720, 60), 32);
    assert.equal(avcLevelFor(1920, 1080, 30), 40);
    assert.equal(avcLevelFor(1920, 1080, 60), 42);
  });
});
