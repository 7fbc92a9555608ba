// What a broadcaster tells a streamer to change, in words they can act on: a keyframe interval far from the
// segment target (segments follow the source's keyframes, so OBS's default of 250 frames makes 8.3 s
// segments), and a source browsers cannot play. The keyframe cadence is judged from segment durations.
// Hot path: `KeyframeCadence.add` runs per segment (a few comparisons over a short window).

import type { StreamWarning } from '../protocol/stream-record.ts';

/** A segment longer than this many targets means the keyframe interval is too long. */
const LONG_SEGMENT_TARGETS = 2;
/** Segments judged for irregularity: the newest is left out (a publication's last segment is short). */
const CADENCE_WINDOW = 5;

function keyframeAdvice(segmentSeconds: number, fps: number): string {
  const frames = Math.round(segmentSeconds * (fps > 0 ? fps : 30));
  return (
    `Set a ${segmentSeconds} s keyframe interval. OBS Simple output mode (x264): Settings → Output → Streaming → tick ` +
    `"Enable Advanced Encoder Settings" → Custom Encoder Settings: keyint=${frames}. OBS Advanced output mode: ` +
    `Settings → Output → Streaming → Keyframe Interval: ${segmentSeconds} s. FFmpeg: -g ${frames}.`
  );
}

/** Watches one publication's segment durations; `add` answers a warning the first time the cadence is off. */
export class KeyframeCadence {
  private readonly durations: number[] = [];
  private readonly segmentSeconds: number;

  constructor(segmentSeconds: number) {
    this.segmentSeconds = segmentSeconds;
  }

  add(duration: number, fps: number): StreamWarning | null {
    this.durations.push(duration);
    if (this.durations.length > CADENCE_WINDOW + 1) this.durations.shift();
    const target = this.segmentSeconds;
    if (duration > target * LONG_SEGMENT_TARGETS) {
      return {
        code: 'long_keyframe_interval',
        message:
          `Keyframes arrive every ${duration.toFixed(1)} s, so segments are ${duration.toFixed(1)} s long instead of ${target} s: ` +
          `the stream plays, but viewers start and lag about ${Math.round(duration * 3)} s behind. ${keyframeAdvice(target, fps)}`,
      };
    }
    const judged = this.durations.slice(0, -1);
    if (judged.length < CADENCE_WINDOW - 1) return null;
    const spread = Math.max(...judged) - Math.min(...judged);
    if (spread >= target) {
      return {
        code: 'irregular_keyframes',
        message:
          `Keyframes arrive irregularly (segments from ${Math.min(...judged).toFixed(1)} s to ${Math.max(...judged).toFixed(1)} s): ` +
          `viewers' latency follows the longest. ${keyframeAdvice(target, fps)}`,
      };
    }
    return null;
  }
}

/** The warning for a source that is not offered to viewers as is; `replacement` names the rung that takes its place. */
export function unplayableSourceWarning(reason: string, replacement: string | null): StreamWarning {
  return {
    code: 'source_not_playable',
    message:
      `The source is ${reason}, which browsers cannot play, so it is not offered to viewers as is` +
      (replacement ? `; the ${replacement} transcode (H.264 High, 8-bit 4:2:0) takes its place, and playback depends on a transcoder. ` : ': only its transcodes are. ') +
      'Send H.264 8-bit 4:2:0 (Main or High profile): OBS Settings → Advanced → Video → Color Format: NV12; ' +
      'FFmpeg: -pix_fmt yuv420p -profile:v high; GStreamer: x264enc ! video/x-h264,profile=high.',
  };
}
