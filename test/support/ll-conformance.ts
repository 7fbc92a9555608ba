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
