// A perceptual comparison of renditions with their source segment, by FFmpeg's SSIM filter: the source is
// decoded once, scaled (bicubic) to each rendition's size and rate, and each rendition frame is compared with
// the source frame at the same timestamp (timestamps are kept, -copyts, as transcoders keep them). Answers
// the per-frame SSIM (all planes) of each rendition, so a caller can judge the mean and the worst frames.
// One FFmpeg process for every rendition of a segment, bounded in time. Not a hot path: it runs on a sample.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ffmpegBinaries } from './ffmpeg-binaries.ts';

export interface ComparedRendition {
  name: string;
  bytes: Uint8Array;
  width: number;
  height: number;
  /** The rendition's frame rate: the source is brought to it first when it is higher. */
  fps: number;
}

export interface Comparison {
  /** SSIM (Y, U and V weighted, 0-1) of each compared rendition frame, in order. */
  ssim: number[];
  mean: number;
  /** The 10th percentile of the frames: low when part of the segment is wrong (frozen, another scene). */
  p10: number;
  /**
   * The same measure for a reference made from the source itself, so a judgement can be relative to the
   * content: the source at an eighth of the rung's size scaled back up, what an absurdly low quality scores
   * on this content (near the rendition's own score for flat pictures, far below it for detail).
   */
  blurred: number;
  /**
   * How much the pictures change over half a second: 1 − the SSIM of each frame with the frame 0.5 s later,
   * of the source (scaled to the rung) and of the rendition. A frozen rendition of a moving source changes
   * far less than its source.
   */
  sourceMotion: number;
  renditionMotion: number;
}

export interface CompareOptions {
  /** The source's frame rate. */
  sourceFps: number;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Both inputs' container: MPEG-TS (the default), or fragmented MP4 with its init segment first. */
  format?: 'mpegts' | 'mp4';
}

/** Resolves with each rendition's comparison by name; rejects when FFmpeg fails or runs past the timeout. */
export async function compareWithSource(source: Uint8Array, renditions: ReadonlyArray<ComparedRendition>, options: CompareOptions): Promise<Map<string, Comparison>> {
  const dir = await mkdtemp(join(tmpdir(), 'castnet-verify-'));
  try {
    const n = renditions.length;
    const format = options.format ?? 'mpegts';
    const ext = format === 'mp4' ? 'mp4' : 'ts';
    await Promise.all([writeFile(join(dir, `source.${ext}`), source), ...renditions.map((r, i) => writeFile(join(dir, `r${i}.${ext}`), r.bytes))]);
    const refs = renditions.map((_, i) => `[s${i}]`).join('');
    const graph = [`[${n}:v]split=${n}${refs}`];
    const log = (i: number, what: string) => join(dir, `${what}${i}.log`);
    renditions.forEach((r, i) => {
      const fps = options.sourceFps > r.fps + 0.01 ? `,fps=${r.fps}` : '';
      const small = `${Math.max(2, Math.round(r.width / 16) * 2)}:${Math.max(2, Math.round(r.height / 16) * 2)}`;
      graph.push(`[s${i}]scale=${r.width}:${r.height}:flags=bicubic${fps},split=5[ref${i}][refb${i}][tob${i}][refm${i}][tom${i}]`);
      graph.push(`[${i}:v]split=3[main${i}][rm${i}][rtm${i}]`);
      graph.push(`[main${i}][ref${i}]ssim=stats_file=${log(i, 'ssim')}[o${i}]`);
      graph.push(`[tom${i}]setpts=PTS-0.5/TB[sm${i}]`, `[refm${i}][sm${i}]ssim=stats_file=${log(i, 'smotion')}[osm${i}]`);
      graph.push(`[rtm${i}]setpts=PTS-0.5/TB[rsm${i}]`, `[rm${i}][rsm${i}]ssim=stats_file=${log(i, 'rmotion')}[orm${i}]`);
      graph.push(`[tob${i}]scale=${small},scale=${r.width}:${r.height}[blur${i}]`, `[refb${i}][blur${i}]ssim=stats_file=${log(i, 'blur')}[ob${i}]`);
    });
    const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-copyts'];
    for (let i = 0; i < n; i++) args.push('-f', format, '-i', join(dir, `r${i}.${ext}`));
    args.push('-f', format, '-i', join(dir, `source.${ext}`), '-filter_complex', graph.join(';'));
    for (let i = 0; i < n; i++) for (const o of ['o', 'ob', 'osm', 'orm']) args.push('-map', `[${o}${i}]`, '-f', 'null', '-');
    await run(ffmpegBinaries().ffmpeg, args, options);
    const frames = async (i: number, what: string) => [...(await readFile(log(i, what), 'utf8').catch(() => '')).matchAll(/All:([\d.]+|inf)/g)].map((m) => (m[1] === 'inf' ? 1 : Number(m[1])));
    const result = new Map<string, Comparison>();
    for (let i = 0; i < n; i++) {
      const [ssim, blurred, sourceMotion, renditionMotion] = await Promise.all([frames(i, 'ssim'), frames(i, 'blur'), frames(i, 'smotion'), frames(i, 'rmotion')]);
      // The last half second has no frame 0.5 s later (it pairs with the last frame): only full pairs count.
      const motion = (f: number[]) => 1 - summarize(f.slice(0, Math.max(1, f.length - Math.ceil(renditions[i]!.fps / 2)))).mean;
      result.set(renditions[i]!.name, { ...summarize(ssim), blurred: summarize(blurred).mean, sourceMotion: motion(sourceMotion), renditionMotion: motion(renditionMotion) });
    }
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function summarize(ssim: number[]): Pick<Comparison, 'ssim' | 'mean' | 'p10'> {
  if (ssim.length === 0) return { ssim, mean: 0, p10: 0 };
  const sorted = [...ssim].sort((a, b) => a - b);
  return { ssim, mean: ssim.reduce((a, b) => a + b, 0) / ssim.length, p10: sorted[Math.floor(sorted.length * 0.1)]! };
}

function run(ffmpeg: string, args: string[], options: CompareOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4_000) stderr += d.toString();
    });
    const kill = () => child.kill('SIGKILL');
    const timer = setTimeout(kill, options.timeoutMs);
    options.signal?.addEventListener('abort', kill, { once: true });
    child.once('error', reject);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', kill);
      if (code === 0) resolve();
      else reject(new Error(sig ? `FFmpeg's comparison was stopped (${sig}): past ${options.timeoutMs} ms or aborted` : `FFmpeg's comparison failed (${code}): ${stderr.trim().split('\n').slice(-2).join(' | ')}`));
    });
  });
}
