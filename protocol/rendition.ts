// The rendition ladder: what a stream is transcoded into, and how a ladder is fitted to a source.

import { z } from 'zod';
import { renditionNamePattern } from './fields.ts';

export const renditionSpecSchema = z.object({
  name: z.string().regex(renditionNamePattern),
  width: z.number().int().positive().max(7680),
  height: z.number().int().positive().max(4320),
  fps: z.number().positive().max(240),
  videoBitrate: z.number().int().positive(),
  audioBitrate: z.number().int().nonnegative(),
});
export type RenditionSpec = z.infer<typeof renditionSpecSchema>;

export const ladderSchema = z.array(renditionSpecSchema).max(8);

/** Rung heights and bitrates of the default ladder (720p30, 480p30, 360p30; see docs/architecture.md). */
export const defaultLadderRungs: ReadonlyArray<{ height: number; fps: number; videoBitrate: number; audioBitrate: number }> = [
  { height: 720, fps: 30, videoBitrate: 2_800_000, audioBitrate: 128_000 },
  { height: 480, fps: 30, videoBitrate: 1_200_000, audioBitrate: 96_000 },
  { height: 360, fps: 30, videoBitrate: 700_000, audioBitrate: 96_000 },
];

export const SOURCE_RENDITION = 'source';

type Rung = { height: number; fps: number; videoBitrate: number; audioBitrate: number };

/**
 * Fits the ladder to a source: rungs above the source's height are dropped (never upscale); a rung at the
 * source's height stays, as a lower-bitrate choice beside the passthrough. Widths keep the source's aspect
 * ratio and are even, as H.264 4:2:0 needs. With `fullResolution` (a source browsers cannot play, which is
 * then not offered as is) the ladder always has a rung at the source's height: one is added when no rung
 * has it, its bitrate scaled by pixels from the nearest rung.
 */
export function fitLadder(
  source: { width: number; height: number; fps: number },
  rungs: ReadonlyArray<Rung> = defaultLadderRungs,
  options: { fullResolution?: boolean } = {},
): RenditionSpec[] {
  const fitted = rungs.filter((rung) => rung.height <= source.height);
  // H.264 4:2:0 wants even dimensions: an odd source height gets a full-resolution rung one line shorter.
  const evenHeight = Math.floor(source.height / 2) * 2;
  if (options.fullResolution && !fitted.some((r) => r.height === evenHeight)) fitted.unshift(fullResolutionRung({ height: evenHeight, fps: source.fps }, rungs));
  return fitted.map((rung) => ({
    name: `${rung.height}p`,
    width: Math.max(2, Math.round((rung.height * source.width) / source.height / 2) * 2),
    height: rung.height,
    fps: Math.min(rung.fps, source.fps || rung.fps),
    videoBitrate: rung.videoBitrate,
    audioBitrate: rung.audioBitrate,
  }));
}

/** A rung at the source's height, its bitrate scaled by pixel count from the rung nearest in height. */
function fullResolutionRung(source: { height: number; fps: number }, rungs: ReadonlyArray<Rung>): Rung {
  const height = source.height;
  const nearest = [...rungs].sort((a, b) => Math.abs(a.height - height) - Math.abs(b.height - height))[0];
  if (!nearest) return { height, fps: Math.min(60, source.fps || 30), videoBitrate: Math.round(height * height * 5.4), audioBitrate: 96_000 };
  return {
    height,
    fps: Math.min(Math.max(nearest.fps, 30), source.fps || 30),
    videoBitrate: Math.round((nearest.videoBitrate * (height * height)) / (nearest.height * nearest.height)),
    audioBitrate: nearest.audioBitrate,
  };
}

/** Parses `720p30:2800k,480p:1200k` into ladder rungs; used by the `--ladder` option. */
export function parseLadder(text: string): Rung[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const match = /^(\d+)p(\d+)?(?::(\d+)k)?$/.exec(part);
      if (!match) throw new Error(`invalid ladder rung "${part}": expected e.g. 720p30:2800k`);
      const height = Number(match[1]);
      return {
        height,
        fps: match[2] ? Number(match[2]) : 30,
        videoBitrate: match[3] ? Number(match[3]) * 1000 : Math.round(height * height * 5.4),
        audioBitrate: 96_000,
      };
    });
}
