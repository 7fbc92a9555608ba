// Test support: Low-Latency HLS playlist rules checked on what an independent parser (npm hls-parser)
// reads from a served playlist, the rules real players enforce (RFC 8216bis §4.4.3.7–8, §4.4.4.9, Apple's
// HLS authoring spec): no part longer than PART-TARGET, parts at least 85% of it except the last of a
// segment, PART-HOLD-BACK at least three part targets, CAN-SKIP-UNTIL at least six target durations.

import assert from 'node:assert/strict';
import HLS from 'hls-parser';
import type { MediaPlaylist } from 'hls-parser/types.js';

export interface LlSnapshot {
  playlist: MediaPlaylist;
  partTarget: number;
  partHoldBack: number;
  /** Media sequence of the first segment, and of the last one holding parts (open or complete). */
  first: number;
  last: number;
}

// The parser's own rule checks throw rather than print.
HLS.setOptions({ strictMode: true });

export function checkLlPlaylist(text: string): LlSnapshot {
  let playlist: MediaPlaylist;
  try {
    playlist = HLS.parse(text) as MediaPlaylist;
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${text}`);
  }
  assert.equal(playlist.isMasterPlaylist, false);
  const partTarget = playlist.partTargetDuration;
  assert.ok(partTarget && partTarget > 0, 'EXT-X-PART-INF:PART-TARGET is present');
  const ll = playlist.lowLatencyCompatibility;
  assert.ok(ll?.canBlockReload, 'CAN-BLOCK-RELOAD=YES');
  assert.ok(ll.partHoldBack >= 3 * partTarget - 1e-9, `PART-HOLD-BACK ${ll.partHoldBack} is at least 3 × PART-TARGET ${partTarget}`);
  assert.ok(ll.canSkipUntil >= 6 * playlist.targetDuration, 'CAN-SKIP-UNTIL is at least 6 target durations');
  const segments = playlist.segments;
  for (const [i, segment] of segments.entries()) {
    const parts = segment.parts ?? [];
    // The open segment (parts, no URI yet) may end in a hinted part.
    const open = !segment.uri;
    for (const [j, part] of parts.entries()) {
      if (part.hint) continue;
      assert.ok(part.duration! <= partTarget + 1e-9, `part ${segment.mediaSequenceNumber}.${j} lasts ${part.duration} s, above PART-TARGET ${partTarget}`);
      const lastOfSegment = !open && j === parts.length - 1;
      if (!lastOfSegment && !(open && j === parts.filter((p) => !p.hint).length - 1)) assert.ok(part.duration! >= 0.85 * partTarget - 1e-9, `part ${segment.mediaSequenceNumber}.${j} lasts ${part.duration} s, under 85% of PART-TARGET`);
    }
    if (parts.length > 0 && !open && !segment.gap) {
      const sum = parts.reduce((s, p) => s + (p.duration ?? 0), 0);
      assert.ok(Math.abs(sum - segment.duration) < 0.01, `segment ${segment.mediaSequenceNumber}: parts sum to ${sum}, EXTINF ${segment.duration}`);
      assert.equal(parts[0]!.independent, true, `segment ${segment.mediaSequenceNumber} starts with an independent part`);
    }
    if (i > 0) assert.equal(segment.mediaSequenceNumber, segments[i - 1]!.mediaSequenceNumber + 1, 'segments are numbered without a hole');
    if (segment.uri) assert.ok(segment.map?.uri, `segment ${segment.mediaSequenceNumber} has an EXT-X-MAP`);
  }
  const first = playlist.mediaSequenceBase ?? 0;
  return { playlist, partTarget, partHoldBack: ll.partHoldBack, first, last: segments.at(-1)?.mediaSequenceNumber ?? first };
}

export interface FollowedSegment {
  seq: number;
  duration: number;
  /** Its parts' durations as first listed complete: empty if the relay listed it whole, without parts. */
  parts: number[];
  /** The playlist that first listed it complete. */
  text: string;
}

/**
 * Follows an LL-HLS media playlist from before the stream exists (404s are retried) with blocking reloads
 * on each preload hint, and records every segment as the first playlist that lists it complete: a blocking
 * reload returns as soon as the next part exists, so that playlist is the one that completes it, where a
 * relay lists its parts (the newest two segments' parts are listed). `onPlaylist` sees every playlist text.
 * Stops when `until()` holds; fails after `timeoutMs`.
 */
export async function followLlSegments(url: string, until: (segments: ReadonlyMap<number, FollowedSegment>) => boolean, timeoutMs: number, onPlaylist?: (text: string) => void): Promise<Map<number, FollowedSegment>> {
  const seen = new Map<number, FollowedSegment>();
  const deadline = Date.now() + timeoutMs;
  let query = '';
  while (!until(seen)) {
    if (Date.now() > deadline) throw new Error(`followed ${url} for ${timeoutMs} ms: segments ${[...seen.keys()].join(',')}`);
    const res = await fetch(`${url}${query}`, { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (res.status !== 200) {
      query = '';
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    onPlaylist?.(text);
    const playlist = HLS.parse(text) as MediaPlaylist;
    const complete = playlist.segments.filter((s) => s.uri);
    for (const [i, s] of complete.entries()) {
      if (seen.has(s.mediaSequenceNumber)) continue;
      // A segment first seen further back than the newest two (the follower fell behind) is not judged.
      if (i < complete.length - 2) continue;
      seen.set(s.mediaSequenceNumber, { seq: s.mediaSequenceNumber, duration: s.duration, parts: (s.parts ?? []).map((p) => p.duration!), text });
    }
    const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(\d+)\.(\d+)\.m4s"/.exec(text);
    query = hint ? `?_HLS_msn=${hint[1]}&_HLS_part=${hint[2]}` : '';
  }
  return seen;
}

/**
 * The stream-start rules for what followLlSegments saw: every segment from `first` on, none missing, each
 * listed with parts that add up to its EXTINF to within half a frame (so a lost part, one frame at the
 * least, fails it), and no
 * part longer than PART-TARGET.
 */
export function checkFollowedSegments(seen: ReadonlyMap<number, FollowedSegment>, first: number, partTarget: number, frameSeconds: number): void {
  const seqs = [...seen.keys()].sort((a, b) => a - b);
  assert.equal(seqs[0], first, `the first segment followed is ${seqs[0]}, not the stream's first (${first})`);
  for (const [i, seq] of seqs.entries()) {
    const s = seen.get(seq)!;
    if (i > 0) assert.equal(seq, seqs[i - 1]! + 1, `segment ${seqs[i - 1]! + 1} was never seen complete among the newest two`);
    assert.ok(s.parts.length > 0, `segment ${seq} was listed without parts (a part of it never reached the relay):\n${s.text}`);
    const sum = s.parts.reduce((t, d) => t + d, 0);
    assert.ok(Math.abs(sum - s.duration) < frameSeconds / 2, `segment ${seq}: its parts sum to ${sum.toFixed(3)} s, its EXTINF is ${s.duration} s (a part is missing):\n${s.text}`);
    for (const [j, d] of s.parts.entries()) assert.ok(d <= partTarget + 1e-9, `part ${seq}.${j} lasts ${d} s, above PART-TARGET ${partTarget}`);
  }
}
