// The broadcaster's check that a transcoder's renditions are the source's pictures (issue 10): on a sample of
// segments — always the first ones from a transcoder new to the stream, then a share (`--verify-rate`) — each
// rendition is compared with the source scaled to its rung (media/perceptual-compare.ts, SSIM) and judged
// against references made from the same source, so the rule holds across content: the rendition must win
// back at least MIN_DETAIL_RECOVERED of what the source loses at an eighth of the rung's size — or else be
// close to the source in absolute terms (its worst tenth of frames), clearly closer than that blurred copy,
// and closer to the source than the source is to itself half a second later. The second branch is for grain:
// libx264 smooths noise no rendition at the rung's bitrate keeps, so honest 720p output of bench/verify's
// `noisy` content recovers only 0.46–0.52, yet its worst tenth stays at SSIM 0.83+, its mean 0.10+ above the
// blurred copy and 0.15+ above the source's own similarity over half a second (grain changes every frame).
// No one condition would do: a blurred copy of a flat picture has a high absolute SSIM too (absurdly low
// quality of smpte bars: 0.92, never above the blurred copy), another moment of nearly still detail is close
// too but hardly above the blurred copy (testsrc2: 0.07), and another moment of detailed moving pictures that
// settle (cellular life) comes close in SSIM and far above the blurred copy, but stays further than the
// source's next half second; margins in docs/decisions.md. On a still picture a frozen frame or another
// moment is the same picture; a frozen one is then caught by motion: the rendition must change over half a
// second at least half as much as its source does. Runs on the sample only (decoding both costs about a
// transcode).

import { compareWithSource, type Comparison, type ComparedRendition } from '../media/perceptual-compare.ts';
import type { MediaInfo } from '../media/ts-probe.ts';
import type { RenditionSpec } from '../protocol/rendition.ts';

/** Segments from each transcoder new to a stream that are always verified. */
export const VERIFY_FIRST_SEGMENTS = 2;
/** Share of the later segments verified, at random. */
export const DEFAULT_VERIFY_RATE = 0.1;
/** (mean SSIM − blurred reference's) / (1 − blurred reference's) a rendition must reach… */
export const MIN_DETAIL_RECOVERED = 0.55;
/** …or else its 10th-percentile frame SSIM must reach this (close to the source in absolute terms)… */
export const MIN_CLOSE_P10 = 0.72;
/**
 * …and its mean SSIM exceed the blurred reference's by this much (closer than a blurred copy is), and reach
 * 1 − the source's motion (closer to the source than the source is to itself half a second later).
 */
export const MIN_SSIM_GAIN = 0.085;
/**
 * A rendition must change over half a second at least this share of what its source changes, when the source
 * changes at all (MIN_SOURCE_MOTION): a frozen frame of moving pictures does not.
 */
export const MIN_MOTION_SHARE = 0.5;
export const MIN_SOURCE_MOTION = 0.002;
/** Rendition frames compared, as a share of what its rate and the source's duration make. */
const MIN_FRAMES_SHARE = 0.8;
/** Transcoders remembered per stream (each has met it): a bound, not a limit an honest stream reaches. */
const MAX_TRANSCODERS = 1_000;

export interface Verdict {
  rendition: string;
  ok: boolean;
  /** Why not, in words for logs. */
  reason?: string;
  /** The share of detail recovered (see MIN_DETAIL_RECOVERED). */
  recovered: number;
  ssim: number;
  /** The 10th-percentile frame's SSIM (see MIN_CLOSE_P10). */
  p10: number;
  blurred: number;
  frames: number;
  sourceMotion: number;
  renditionMotion: number;
}

/** What `judge` reads of a comparison: its summary, the frames counted (bench/verify --dump writes these). */
export type Measures = Omit<Comparison, 'ssim'> & { frames: number };

export function measuresOf(c: Comparison): Measures {
  const { ssim, ...rest } = c;
  return { ...rest, frames: ssim.length };
}

/** The judgement of one comparison; exported for the benchmark, which reports the same numbers. */
export function judge(rendition: string, c: Measures, expectedFrames: number): Verdict {
  const recovered = c.blurred >= 1 ? (c.mean >= 1 ? 1 : 0) : (c.mean - c.blurred) / (1 - c.blurred);
  const base = { rendition, recovered, ssim: c.mean, p10: c.p10, blurred: c.blurred, frames: c.frames, sourceMotion: c.sourceMotion, renditionMotion: c.renditionMotion };
  if (c.frames < expectedFrames * MIN_FRAMES_SHARE) return { ...base, ok: false, reason: `${c.frames} frames compared of ${Math.round(expectedFrames)} expected` };
  if (recovered < MIN_DETAIL_RECOVERED) {
    // The second branch: each condition shuts out the fakes that would pass the others (see the header).
    const why =
      c.p10 < MIN_CLOSE_P10 ? `its worst tenth of frames is at SSIM ${c.p10.toFixed(3)}, below ${MIN_CLOSE_P10}`
      : c.mean - c.blurred < MIN_SSIM_GAIN ? `it is ${(c.mean - c.blurred).toFixed(3)} above the blurred copy, below ${MIN_SSIM_GAIN}`
      : c.mean < 1 - c.sourceMotion ? `it is further from the source than the source is from itself half a second later (SSIM ${(1 - c.sourceMotion).toFixed(3)})`
      : null;
    if (why) return { ...base, ok: false, reason: `SSIM ${c.mean.toFixed(3)} against the source recovers ${recovered.toFixed(2)} of the detail a blurred copy loses (SSIM ${c.blurred.toFixed(3)}), below ${MIN_DETAIL_RECOVERED}, and ${why}` };
  }
  if (c.sourceMotion > MIN_SOURCE_MOTION && c.renditionMotion < c.sourceMotion * MIN_MOTION_SHARE) return { ...base, ok: false, reason: `the rendition changes ${c.renditionMotion.toFixed(4)} over half a second where its source changes ${c.sourceMotion.toFixed(4)}: frozen` };
  return { ...base, ok: true };
}

export interface OutputVerifierOptions {
  /** Share of segments verified after the first ones, 0 to 1. */
  verifyRate: number;
  verifyFirst?: number;
  random?: () => number;
  /** The comparison; FFmpeg's SSIM unless a test brings another real one. */
  compare?: typeof compareWithSource;
}

export class OutputVerifier {
  private readonly seen = new Map<string, number>();
  private readonly options: OutputVerifierOptions;
  private readonly random: () => number;
  private readonly compare: typeof compareWithSource;

  constructor(options: OutputVerifierOptions) {
    this.options = options;
    this.random = options.random ?? Math.random;
    this.compare = options.compare ?? compareWithSource;
  }

  /** Whether this transcoder's answer for the next segment is verified; counts the segment. */
  shouldVerify(transcoder: string): boolean {
    const n = this.seen.get(transcoder) ?? 0;
    if (!this.seen.has(transcoder) && this.seen.size >= MAX_TRANSCODERS) this.seen.clear();
    this.seen.set(transcoder, n + 1);
    return n < (this.options.verifyFirst ?? VERIFY_FIRST_SEGMENTS) || this.random() < this.options.verifyRate;
  }

  /** A verdict per rendition; rejects only when the comparison itself could not run. */
  /** `format`: MPEG-TS, or (CMAF renditions) fragmented MP4 with its init segment first, source and renditions alike. */
  async verify(source: Buffer, sourceInfo: MediaInfo, renditions: ReadonlyArray<{ spec: RenditionSpec; bytes: Buffer }>, timeoutMs: number, format: 'mpegts' | 'mp4' = 'mpegts'): Promise<Verdict[]> {
    const fpsOf = (spec: RenditionSpec) => Math.min(spec.fps, sourceInfo.fps || spec.fps);
    const compared: ComparedRendition[] = renditions.map((r) => ({ name: r.spec.name, bytes: r.bytes, width: r.spec.width, height: r.spec.height, fps: fpsOf(r.spec) }));
    const results = await this.compare(source, compared, { sourceFps: sourceInfo.fps || 30, timeoutMs, format });
    return renditions.map((r) => judge(r.spec.name, measuresOf(results.get(r.spec.name)!), fpsOf(r.spec) * sourceInfo.duration));
  }
}
