import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { KeyframeCadence, unplayableSourceWarning } from './stream-warnings.ts';

describe('stream warnings', () => {
  it("flags OBS's default 250-frame keyframe interval at once, with what to type in both OBS modes", () => {
    const cadence = new KeyframeCadence(2);
    const warning = cadence.add(250 / 30, 30);
    assert.equal(warning?.code, 'long_keyframe_interval');
    assert.match(warning!.message, /every 8\.3 s/);
    assert.match(warning!.message, /Custom Encoder Settings: keyint=60/);
    assert.match(warning!.message, /Keyframe Interval: 2 s/);
    assert.match(new KeyframeCadence(2).add(10, 25)!.message, /keyint=50/);
  });

  it('accepts steady segments up to twice the target, and a short last segment', () => {
    const cadence = new KeyframeCadence(2);
    for (const d of [2, 2, 2, 2, 2, 2, 0.4]) assert.equal(cadence.add(d, 30), null);
    const three = new KeyframeCadence(2);
    for (const d of [3, 3, 3, 3, 3, 3]) assert.equal(three.add(d, 30), null);
  });

  it('flags keyframes that come irregularly', () => {
    const cadence = new KeyframeCadence(2);
    // Judged once four segments are complete (the newest may be a publication's short last one).
    const answers = [2, 4, 2, 4, 2].map((d) => cadence.add(d, 30));
    assert.deepEqual(answers.slice(0, -1), [null, null, null, null]);
    assert.equal(answers.at(-1)?.code, 'irregular_keyframes');
    assert.match(answers.at(-1)!.message, /segments from 2\.0 s to 4\.0 s/);
  });

  it('says which transcode replaces a source browsers cannot play', () => {
    assert.match(unplayableSourceWarning('H.264 High 4:4:4 Predictive profile, 4:4:4 chroma', '1080p').message, /the 1080p transcode \(H\.264 High, 8-bit 4:2:0\) takes its place/);
  });
});
