// FFmpeg arguments for a synthetic live source: a moving test pattern with a running clock and a beeping
// tone, H.264/AAC in FLV with 2 s keyframes, pushed over RTMP. Used by the dev demo, tests and benchmarks.

import { existsSync } from 'node:fs';

const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf';

export interface TestPatternOptions {
  width: number;
  height: number;
  fps: number;
  /** Stop after this many seconds; 0 runs until killed. */
  seconds: number;
  output: string;
  /** Pace input at real time (as a camera would). */
  realtime: boolean;
  format?: string;
  videoBitrate?: string;
  /** Keyframe interval in frames; default 2 s of frames, with scene-cut keyframes off. */
  keyint?: number;
  /** B-frames; default none (the low-latency tuning). */
  bFrames?: number;
  /** Default yuv420p; e.g. yuv444p with profile high444 for a source browsers cannot play. */
  pixFmt?: string;
  profile?: string;
}

export function testPatternArgs(o: TestPatternOptions): string[] {
  // testsrc draws its own running timestamp; the wall clock overlay is added when a font is there to draw it.
  const clock = existsSync(FONT)
    ? `,drawtext=fontfile=${FONT}:text='%{localtime\\:%T}':x=(w-tw)/2:y=h-th-${Math.round(o.height / 12)}:fontsize=${Math.round(o.height / 12)}:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=8`
    : '';
  return [
    '-hide_banner', '-loglevel', 'error', '-nostdin',
    ...(o.realtime ? ['-re'] : []),
    '-f', 'lavfi', '-i', `testsrc=size=${o.width}x${o.height}:rate=${o.fps}${clock}`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:beep_factor=4:sample_rate=48000',
    ...(o.seconds > 0 ? ['-t', String(o.seconds)] : []),
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', o.pixFmt ?? 'yuv420p', ...(o.profile ? ['-profile:v', o.profile] : []),
    // Without B-frames asked for, the low-latency tuning (no B-frames, no lookahead); with them, x264's defaults as OBS uses them.
    ...(o.bFrames === undefined ? ['-tune', 'zerolatency'] : ['-bf', String(o.bFrames)]),
    '-b:v', o.videoBitrate ?? '3000k',
    ...(o.keyint === undefined ? ['-g', String(o.fps * 2), '-keyint_min', String(o.fps * 2), '-sc_threshold', '0'] : ['-g', String(o.keyint)]),
    '-c:a', 'aac', '-b:a', '128k', '-ar', '48000', '-ac', '2',
    '-f', o.format ?? 'flv', o.output,
  ];
}
