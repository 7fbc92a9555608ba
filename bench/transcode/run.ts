// bench/transcode: the transcoder's whole per-segment path (HTTP request in, FFmpeg, renditions out as
// multipart) against bare FFmpeg producing the same ladder from the same files with the same arguments,
// over ten 2 s 1080p30 segments, interleaved in rounds in one run. Prints castnet/bare wall time.
// Usage: npm run bench:transcode [-- --rounds 3]

import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseFlags } from '../../cli/options.ts';
import { requestTranscode } from '../../broadcaster/node-clients.ts';
import { ffmpegBinaries } from '../../media/ffmpeg-binaries.ts';
import { testPatternArgs } from '../../media/test-pattern.ts';
import { silentLogger } from '../../observability/logger.ts';
import { fitLadder } from '../../protocol/rendition.ts';
import { ladderArgs } from '../../transcoder/ladder-command.ts';
import { createTranscoder } from '../../transcoder/transcoder.ts';

const run = promisify(execFile);
const { flags } = parseFlags(process.argv.slice(2));
const rounds = Number(flags.get('rounds') ?? 3);
const work = join(import.meta.dirname, '..', '.work', 'transcode');
const ffmpeg = ffmpegBinaries().ffmpeg;

async function makeSegments(): Promise<string[]> {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'source'), { recursive: true });
  // A 1080p30 H.264/AAC source with 2 s GOPs, cut at keyframes by stream copy, as the broadcaster does.
  const source = join(work, 'source.flv');
  await run(ffmpeg, testPatternArgs({ width: 1920, height: 1080, fps: 30, seconds: 20, output: source, realtime: false, videoBitrate: '6000k' }));
  await run(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-i', source, '-c', 'copy', '-f', 'segment', '-segment_time', '2', '-segment_format', 'mpegts', '-reset_timestamps', '0', join(work, 'source', '%d.ts')]);
  return readdirSync(join(work, 'source')).sort((a, b) => parseInt(a) - parseInt(b)).slice(0, 10).map((f) => join(work, 'source', f));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const segments = await makeSegments();
const ladder = fitLadder({ width: 1920, height: 1080, fps: 30 });
const transcoder = await createTranscoder({ httpPort: 0, orchestrator: null, encoder: 'libx264', concurrency: 1, dataDir: null, pricePerPixel: 0n }, { logger: silentLogger });
await transcoder.start();
mkdirSync(join(work, 'bare'), { recursive: true });

async function bare(): Promise<number> {
  const start = performance.now();
  for (const [i, input] of segments.entries()) {
    const outputs = Object.fromEntries(ladder.map((r) => [r.name, join(work, 'bare', `${i}-${r.name}.ts`)]));
    await run(ffmpeg, ladderArgs({ input, renditions: ladder, outputs, encoder: 'libx264', copyAudio: true, sourceFps: 30 }));
  }
  return (performance.now() - start) / 1000;
}

async function castnet(): Promise<number> {
  const start = performance.now();
  for (const [seq, input] of segments.entries()) {
    const { renditions } = await requestTranscode(transcoder.url, readFileSync(input), { playbackId: 'bench', seq, renditions: ladder, sourceFps: 30, sourceAudio: 'aac' }, 120_000);
    if (renditions.size !== ladder.length) throw new Error(`segment ${seq}: ${renditions.size} renditions`);
  }
  return (performance.now() - start) / 1000;
}

const bareTimes: number[] = [];
const castnetTimes: number[] = [];
await bare(); // warm the page cache and FFmpeg's binary
for (let round = 0; round < rounds; round++) {
  // Alternate which path goes first, so drift in machine load does not favour one.
  if (round % 2 === 0) {
    bareTimes.push(await bare());
    castnetTimes.push(await castnet());
  } else {
    castnetTimes.push(await castnet());
    bareTimes.push(await bare());
  }
  console.log(`round ${round + 1}: bare ${bareTimes.at(-1)!.toFixed(2)} s, castnet ${castnetTimes.at(-1)!.toFixed(2)} s`);
}
await transcoder.stop();
const ratio = median(castnetTimes) / median(bareTimes);
console.log(`\nten 2 s 1080p30 segments → ${ladder.map((r) => r.name).join(', ')} (libx264 veryfast, audio copied), ${rounds} rounds`);
console.log(`bare FFmpeg  median ${median(bareTimes).toFixed(2)} s`);
console.log(`castnet HTTP median ${median(castnetTimes).toFixed(2)} s`);
console.log(`castnet/bare wall-time ratio: ${ratio.toFixed(3)} (target ≤ 1.05)`);
