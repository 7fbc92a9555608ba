import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { fitLadder, defaultLadderRungs } from '../protocol/rendition.ts';
import { probeTs } from '../media/ts-probe.ts';
import { CONTENT, fakeRendition, honestRendition, sourceSegments } from '../test/support/fake-renditions.ts';
import { judge, MIN_CLOSE_P10, MIN_DETAIL_RECOVERED, MIN_SSIM_GAIN, OutputVerifier, type Measures } from './output-verifier.ts';

// Comparisons measured by bench/verify (`--dump`) on its generated corpus: 2 s segments, 60 frames each.
const measured = (m: Omit<Measures, 'frames'>): Measures => ({ frames: 60, ...m });
const honestNoisy720 = measured({ mean: 0.8847, p10: 0.8427, blurred: 0.7794, sourceMotion: 0.2737, renditionMotion: 0.171 });

describe('judge', () => {
  it('accepts honest libx264 output of noisy pictures at 720p, which recovers less than MIN_DETAIL_RECOVERED but stays close to the source (issue 10)', () => {
    const v = judge('720p', honestNoisy720, 60);
    assert.ok(v.recovered < MIN_DETAIL_RECOVERED, `recovered ${v.recovered}`);
    assert.equal(v.ok, true, v.reason);
  });

  it('refuses absurdly low quality of a flat picture although its absolute SSIM is higher than honest noisy output', () => {
    // smpte bars at 720p, the source at an eighth of the size at 40 kb/s: SSIM 0.92, but no closer than the blurred copy.
    const lowQualityBars = measured({ mean: 0.9189, p10: 0.9178, blurred: 0.9249, sourceMotion: 0, renditionMotion: 0.0008 });
    assert.ok(lowQualityBars.mean > honestNoisy720.mean && lowQualityBars.p10 > honestNoisy720.p10);
    const v = judge('720p', lowQualityBars, 60);
    assert.equal(v.ok, false);
    assert.match(v.reason!, /above the blurred copy, below 0\.085/);
  });

  it('refuses another moment of nearly still pictures: close to the source, but hardly closer than a blurred copy', () => {
    const anotherTimeTestsrc360 = measured({ mean: 0.8951, p10: 0.8677, blurred: 0.8245, sourceMotion: 0.1198, renditionMotion: 0.0881 });
    const v = judge('360p', anotherTimeTestsrc360, 60);
    assert.ok(v.p10 >= MIN_CLOSE_P10 && v.ssim - v.blurred < MIN_SSIM_GAIN);
    assert.equal(v.ok, false);
  });

  it('refuses another moment of detailed moving pictures: far above a blurred copy, but far from the source', () => {
    const anotherTimeLife360 = measured({ mean: 0.6703, p10: 0.6078, blurred: 0.4709, sourceMotion: 0.2036, renditionMotion: 0.1897 });
    const v = judge('360p', anotherTimeLife360, 60);
    assert.ok(v.ssim - v.blurred > MIN_SSIM_GAIN);
    assert.equal(v.ok, false);
    assert.match(v.reason!, /worst tenth of frames is at SSIM 0\.608, below 0\.72/);
  });

  it('refuses another moment of moving pictures that settle: close, far above a blurred copy, but further from the source than its own next half second', () => {
    // Cellular life, 2 s earlier, at its 7th segment (720p): the automaton settles, so another moment creeps
    // closer segment by segment (p10 0.43 at the 1st, 0.69 at the 7th); its source still changes 0.20 in half a second.
    const anotherTimeLife720 = measured({ mean: 0.7262, p10: 0.6875, blurred: 0.595, sourceMotion: 0.2042, renditionMotion: 0.2043 });
    assert.equal(judge('720p', anotherTimeLife720, 60).ok, false);
    // At its 11th segment its worst frames are past MIN_CLOSE_P10 and it is far above the blurred copy: still
    // refused, by the source's own motion (the rule before the second branch refused it too: recovered 0.45).
    const settled = measured({ mean: 0.7876, p10: 0.754, blurred: 0.6117, sourceMotion: 0.1673, renditionMotion: 0.1548 });
    const v = judge('720p', settled, 60);
    assert.ok(v.p10 >= MIN_CLOSE_P10 && v.ssim - v.blurred >= MIN_SSIM_GAIN && v.recovered < MIN_DETAIL_RECOVERED);
    assert.equal(v.ok, false);
    assert.match(v.reason!, /further from the source than the source is from itself half a second later/);
  });

  it('refuses a frozen frame by motion whichever branch its SSIM passes', () => {
    const v = judge('720p', { ...honestNoisy720, renditionMotion: 0.0017 }, 60);
    assert.equal(v.ok, false);
    assert.match(v.reason!, /frozen/);
  });

  it('accepts a frozen frame or another moment of a still source: it is the same picture', () => {
    const frozenBars = measured({ mean: 0.9999, p10: 0.9996, blurred: 0.9249, sourceMotion: 0, renditionMotion: 0.0001 });
    assert.equal(judge('720p', frozenBars, 60).ok, true);
  });

  it('refuses a rendition with too few frames, however close they are', () => {
    const v = judge('720p', { ...honestNoisy720, frames: 40 }, 60);
    assert.equal(v.ok, false);
    assert.match(v.reason!, /40 frames compared of 60 expected/);
  });
});

describe('OutputVerifier', () => {
  it('passes honest libx264 output of noisy pictures at 720p and refuses an absurdly low-quality copy of them, by FFmpeg', { timeout: 240_000 }, async () => {
    // The third 2 s segment of the noisy content: the first is an easier picture (bench/verify measured 0.80 recovered there, 0.48–0.52 after).
    const segments = await sourceSegments(CONTENT.noisy!, 6);
    const segment = segments[2]!;
    const info = probeTs(segment);
    const spec = fitLadder(info, defaultLadderRungs).find((r) => r.name === '720p')!;
    const verifier = new OutputVerifier({ verifyRate: 1 });
    const [honest, lowQuality] = await Promise.all([honestRendition(segment, spec), fakeRendition('low-quality', segment, spec, { earlier: segments[1]! })]);
    const [verdict] = await verifier.verify(segment, info, [{ spec, bytes: honest }], 120_000);
    assert.equal(verdict!.ok, true, verdict!.reason);
    const [fake] = await verifier.verify(segment, info, [{ spec, bytes: lowQuality }], 120_000);
    assert.equal(fake!.ok, false);
  });
});
