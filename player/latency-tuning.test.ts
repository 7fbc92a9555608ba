import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import Hls from 'hls.js';
import { applyLatencyHints, readLatencyHints, startAtTarget, START_JUMP_S } from './latency-tuning.ts';

const LL = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=1.002\n#EXT-X-PART-INF:PART-TARGET=0.334\n';

/** The parts of a media element startAtTarget reads and writes: a playhead and one buffered range. */
function media(currentTime: number, bufferedFrom: number, bufferedTo: number, paused = false) {
  return { currentTime, paused, seeking: false, buffered: { length: 1, start: () => bufferedFrom, end: () => bufferedTo } } as unknown as HTMLMediaElement;
}

describe('player latency tuning', () => {
  it('plays a stream with parts in low-latency mode at PART-HOLD-BACK, a part more per stall, catching up at 1.2×', () => {
    const config = { ...Hls.DefaultConfig };
    const tuning = applyLatencyHints(config, readLatencyHints(LL)!);
    assert.deepEqual(tuning, { lowLatency: true, partTarget: 0.334, targetLatency: 1.002 });
    assert.equal(config.lowLatencyMode, true);
    assert.equal(config.liveSyncDuration, 1.002);
    assert.equal(config.maxLiveSyncPlaybackRate, 1.2);
    assert.equal(config.liveSyncOnStallIncrease, 0.334);
  });

  it('jumps once to the sync position at a low-latency start that landed behind its target, within the buffer', () => {
    const tuning = { lowLatency: true, partTarget: 0.334, targetLatency: 1.002 };
    const behind = { latency: 2.5, targetLatency: 1.002, liveSyncPosition: 11.5 };
    const m = media(10, 8, 12.2);
    assert.equal(startAtTarget(behind, m, tuning, 0, 1_000), true);
    assert.equal(m.currentTime, 11.5);
  });

  it('does not jump near the target, outside the buffer, while paused, later than 10 s after the first frame, or without parts', () => {
    const tuning = { lowLatency: true, partTarget: 0.334, targetLatency: 1.002 };
    const behind = { latency: 2.5, targetLatency: 1.002, liveSyncPosition: 11.5 };
    assert.equal(startAtTarget({ ...behind, latency: 1.002 + START_JUMP_S / 2 }, media(10, 8, 12.2), tuning, 0, 1_000), false);
    assert.equal(startAtTarget(behind, media(10, 8, 11.3), tuning, 0, 1_000), false, 'the sync position is not buffered yet');
    assert.equal(startAtTarget(behind, media(10, 8, 12.2, true), tuning, 0, 1_000), false, 'paused');
    assert.equal(startAtTarget(behind, media(10, 8, 12.2), tuning, 0, 11_000), false, 'a viewer this long after the start may be behind on purpose');
    assert.equal(startAtTarget(behind, media(10, 8, 12.2), { lowLatency: false, partTarget: null, targetLatency: null }, 0, 1_000), false);
    assert.equal(startAtTarget(behind, media(10, 8, 12.2), tuning, null, 1_000), false, 'before the first frame');
  });
});
