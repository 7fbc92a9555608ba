import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { caseStats, mergeIntervals, quantile, STALL_GAP_MS } from './latency-stats.ts';

/** Frames 0..count-1 sent every 1000/30 ms from t=0, each shown `latencyMs` later. */
const steady = (count: number, latencyMs: number) => {
  const sentAt = Array.from({ length: count }, (_, n) => n * (1000 / 30));
  return { sentAt, frames: sentAt.map((t, n) => [n, t + latencyMs] as [number, number]) };
};

describe('latency stats', () => {
  it('measures display minus send per frame, once per frame number', () => {
    const { sentAt, frames } = steady(300, 1_200);
    // The same frame presented twice counts at its first presentation.
    frames.splice(10, 0, [9, frames[9]![1] + 40]);
    const stats = caseStats(sentAt, { frames, unreadable: {}, waiting: [] }, 20_000, frames.at(-1)![1]);
    assert.equal(stats.measured, 300);
    assert.ok(Math.abs(stats.p50Ms - 1_200) < 1e-6 && Math.abs(stats.p95Ms - 1_200) < 1e-6);
    assert.equal(stats.stalls, 0);
    assert.equal(stats.unknownNumbers, 0);
    assert.equal(stats.negative, 0);
  });

  it('counts a frozen picture and a waiting interval as stalls, and the picture standing still at the end', () => {
    const { sentAt, frames } = steady(300, 2_000);
    // 1 s without a new picture after frame 99, then frames resume later.
    const shifted = frames.map(([n, t]) => [n, n >= 100 ? t + 1_000 : t] as [number, number]);
    const end = shifted.at(-1)![1] + STALL_GAP_MS + 500;
    const stats = caseStats(sentAt, { frames: shifted, unreadable: { 'guards # / # not distinct': 2 }, waiting: [[shifted[99]![1] + 100, shifted[100]![1] - 100]] }, 60_000, end);
    assert.equal(stats.stalls, 2, 'the gap (with the waiting inside it merged) and the frozen end');
    assert.deepEqual(stats.stallList.map((x) => x.kind), ['frozen+waiting', 'frozen']);
    assert.ok(Math.abs(stats.stallList[0]!.fromMs - (shifted[99]![1] - shifted[0]![1])) < 1e-6, 'the first stall begins at frame 99');
    assert.equal(stats.unreadable, 2);
    assert.equal(stats.presented, 302);
    assert.ok(Math.abs(stats.p95Ms - 3_000) < 1e-6);
  });

  it("does not count the player's own seek within the buffer as a stall, unless it froze the picture past the gap", () => {
    const { sentAt, frames } = steady(300, 1_200);
    const at = (n: number) => frames[n]![1];
    const detail = (t: number, seeking: boolean) => ({ at: t, currentTime: 0, bufferAhead: 1, buffered: [], playbackRate: 1, seeking });
    const waiting: Array<[number, number]> = [[at(30) + 1, at(30) + 5], [at(200) + 1, at(200) + 20]];
    const stats = caseStats(sentAt, { frames, unreadable: {}, waiting, waitingAt: [detail(at(30) + 1, true), detail(at(200) + 1, false)] }, 20_000, frames.at(-1)![1]);
    assert.equal(stats.stalls, 1, 'the wait outside a seek is a stall');
    assert.deepEqual(stats.seekWaitsMs, [4], 'the seek\'s wait is listed apart');
    // A seek that held the picture 1 s is a stall all the same (the frozen picture).
    const frozen = frames.map(([n, t]) => [n, n > 30 ? t + 1_000 : t] as [number, number]);
    const held = caseStats(sentAt, { frames: frozen, unreadable: {}, waiting: [[at(30) + 1, at(30) + 900]], waitingAt: [detail(at(30) + 1, true)] }, 20_000, frozen.at(-1)![1]);
    assert.equal(held.stalls, 1);
    assert.equal(held.stallList[0]!.kind, 'frozen');
  });

  it('flags numbers never sent and frames shown before they were sent', () => {
    const stats = caseStats([0, 100], { frames: [[0, 50], [1, 90], [7, 120]], unreadable: {}, waiting: [] }, 10_000, 200);
    assert.equal(stats.unknownNumbers, 1);
    assert.equal(stats.negative, 1);
  });

  it('takes nearest-rank quantiles and merges overlapping intervals', () => {
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2);
    assert.equal(quantile([1, 2, 3, 4], 0.95), 4);
    assert.ok(Number.isNaN(quantile([], 0.5)));
    assert.deepEqual(mergeIntervals([[0, 10], [5, 20], [30, 40], [50, 50]]), { count: 2, totalMs: 30, merged: [[0, 20], [30, 40]] });
  });
});
