// bench/latency: from what the publisher sent (each frame number's send time) and what the page saw (each
// presented frame's number and display time), the glass-to-glass figures of one case: latency percentiles,
// stalls, and the counts that say whether the measurement itself is valid.

import type { LatencyReport } from './page.ts';

/** A picture that stays on screen this long (at 30 fps: 15 frames missed) counts as a stall. */
export const STALL_GAP_MS = 500;

export interface CaseStats {
  /** Presented frames in the window, read or not. */
  presented: number;
  /** Presented frames whose number read back and was one the publisher sent. */
  measured: number;
  unreadable: number;
  /** Numbers that passed the CRC but were never sent: a misread the code did not catch, or a clock/ordering bug. */
  unknownNumbers: number;
  /** Frames shown before they were sent (a clock error). */
  negative: number;
  p50Ms: number;
  p95Ms: number;
  minMs: number;
  maxMs: number;
  stalls: number;
  stallMs: number;
  /** Each stall: when it began (ms after the first presented frame), how long, and whether it was a frozen picture, the video waiting, or both. */
  stallList: Array<{ fromMs: number; ms: number; kind: 'frozen' | 'waiting' | 'frozen+waiting' }>;
  /** 'waiting' intervals that began while the player was seeking (its start jump), ms each: not stalls. */
  seekWaitsMs: number[];
  /** Wall time the window covered, from the first presented frame to the last. */
  coveredMs: number;
}

/** The value at quantile q (0..1) of sorted values, nearest rank. */
export function quantile(sorted: ReadonlyArray<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Merges intervals [start, end] (ms) and answers how many there are and how long they last together. */
export function mergeIntervals(intervals: Array<[number, number]>): { count: number; totalMs: number; merged: Array<[number, number]> } {
  const sorted = intervals.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  const merged: Array<[number, number]> = [];
  for (const [a, b] of sorted) {
    const current = merged.at(-1);
    if (current && a <= current[1]) current[1] = Math.max(current[1], b);
    else merged.push([a, b]);
  }
  return { count: merged.length, totalMs: merged.reduce((sum, [a, b]) => sum + b - a, 0), merged };
}

/**
 * The figures of one case over `windowMs` from its first presented frame (a frame presented twice counts
 * once, at its first presentation). `endedAt`: when the report was taken, which ends a stall still going on.
 */
export function caseStats(sentAt: ReadonlyArray<number>, report: Pick<LatencyReport, 'frames' | 'unreadable' | 'waiting'> & Partial<Pick<LatencyReport, 'waitingAt'>>, windowMs: number, endedAt: number): CaseStats {
  const first = report.frames[0]?.[1] ?? endedAt;
  const windowEnd = Math.min(endedAt, first + windowMs);
  const frames = report.frames.filter(([, t]) => t <= windowEnd);
  const seen = new Set<number>();
  const latencies: number[] = [];
  let unknownNumbers = 0;
  let negative = 0;
  for (const [n, t] of frames) {
    if (seen.has(n)) continue;
    seen.add(n);
    const sent = sentAt[n];
    if (sent === undefined) {
      unknownNumbers++;
      continue;
    }
    if (t < sent) negative++;
    latencies.push(t - sent);
  }
  latencies.sort((a, b) => a - b);
  const gaps: Array<[number, number]> = [];
  for (let i = 1; i < frames.length; i++) if (frames[i]![1] - frames[i - 1]![1] > STALL_GAP_MS) gaps.push([frames[i - 1]![1], frames[i]![1]]);
  // The picture also stands still after the last frame until the window ends.
  const last = frames.at(-1)?.[1];
  if (last !== undefined && windowEnd - last > STALL_GAP_MS) gaps.push([last, windowEnd]);
  const allWaits = report.waiting.map(([a, b]) => [a, Math.min(b ?? windowEnd, windowEnd)] as [number, number]).filter(([a]) => a <= windowEnd);
  // A wait that began in a seek (waitingAt is pushed with each interval) is the seek's: a seek that held the
  // picture past the gap is still counted, as a frozen picture.
  const inSeek = (i: number) => report.waitingAt?.[i]?.seeking === true;
  const waits = allWaits.filter((_, i) => !inSeek(i));
  const seekWaitsMs = allWaits.filter((_, i) => inSeek(i)).map(([a, b]) => b - a);
  const stalls = mergeIntervals([...gaps, ...waits]);
  const overlaps = (list: Array<[number, number]>, [a, b]: [number, number]) => list.some(([x, y]) => y > x && x < b && y > a);
  const stallList = stalls.merged.map(([a, b]) => {
    const frozen = overlaps(gaps, [a, b]);
    const waited = overlaps(waits, [a, b]);
    return { fromMs: a - first, ms: b - a, kind: frozen && waited ? ('frozen+waiting' as const) : frozen ? ('frozen' as const) : ('waiting' as const) };
  });
  const unreadable = Object.values(report.unreadable).reduce((a, b) => a + b, 0);
  return {
    presented: frames.length + unreadable,
    measured: latencies.length,
    unreadable,
    unknownNumbers,
    negative,
    p50Ms: quantile(latencies, 0.5),
    p95Ms: quantile(latencies, 0.95),
    minMs: latencies[0] ?? NaN,
    maxMs: latencies.at(-1) ?? NaN,
    stalls: stalls.count,
    stallMs: stalls.totalMs,
    stallList,
    seekWaitsMs,
    coveredMs: last === undefined ? 0 : last - first,
  };
}
