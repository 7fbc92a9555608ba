import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { fitLadder, parseLadder } from './rendition.ts';

describe('rendition ladder', () => {
  it('keeps 720p, 480p and 360p under a 1080p source, with even widths at its aspect ratio', () => {
    assert.deepEqual(fitLadder({ width: 1920, height: 1080, fps: 30 }).map((r) => [r.name, r.width, r.height, r.fps]), [
      ['720p', 1280, 720, 30],
      ['480p', 854, 480, 30],
      ['360p', 640, 360, 30],
    ]);
  });

  it('drops rungs above the source height and never raises the frame rate', () => {
    assert.deepEqual(fitLadder({ width: 854, height: 480, fps: 25 }).map((r) => [r.name, r.fps]), [['480p', 25], ['360p', 25]]);
    assert.deepEqual(fitLadder({ width: 320, height: 240, fps: 30 }), []);
  });

  it('adds a full-resolution rung for a source that is not offered as is, bitrate scaled by pixels', () => {
    assert.deepEqual(fitLadder({ width: 1920, height: 1080, fps: 30 }, undefined, { fullResolution: true }).map((r) => [r.name, r.width, r.videoBitrate]), [
      ['1080p', 1920, 6_300_000],
      ['720p', 1280, 2_800_000],
      ['480p', 854, 1_200_000],
      ['360p', 640, 700_000],
    ]);
    assert.deepEqual(fitLadder({ width: 426, height: 240, fps: 30 }, undefined, { fullResolution: true }).map((r) => [r.name, r.width, r.height, r.fps]), [['240p', 426, 240, 30]]);
  });

  it('keeps the ladder as it is when a rung already has the source height, and evens an odd height', () => {
    assert.deepEqual(fitLadder({ width: 1280, height: 720, fps: 60 }, undefined, { fullResolution: true }).map((r) => r.name), ['720p', '480p', '360p']);
    assert.deepEqual(fitLadder({ width: 640, height: 361, fps: 30 }, undefined, { fullResolution: true }).map((r) => r.name), ['360p']);
  });

  it('parses a ladder option and explains a bad rung', () => {
    assert.deepEqual(parseLadder('720p60:4500k, 360p'), [
      { height: 720, fps: 60, videoBitrate: 4_500_000, audioBitrate: 96_000 },
      { height: 360, fps: 30, videoBitrate: 699_840, audioBitrate: 96_000 },
    ]);
    assert.throws(() => parseLadder('big'), /invalid ladder rung "big"/);
  });
});
