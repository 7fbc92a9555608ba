// bench/transcode: the transcoder's whole per-segment path (HTTP request in, FFmpeg, renditions out as
// multipart) against bare FFmpeg producing the same ladder from the same files with the same arguments,
// over ten 2 s 1080p30 segments, interleaved in rounds in one run. Prints castnet/bare wall time, after
// checking with ffprobe that both paths produced every rendition at its size with every source frame.
// Usage: npm run bench:transcode [-- --rounds 3 --segments 10]

import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseFlags } from '../../cli/options.ts';
import { requestTranscode } from '../../broadcaster/node-clients.ts';
import { ffmpegBinaries } from '../../media/ffmpeg-binaries.ts';
import { ffprobe } from '../../media/ffprobe.ts';
import { testPatternArgs } from '../../media/test-pattern.ts';
import { silentLogger } from '../../observability/logger.ts';
import { fitLadder } from '../../protocol/rendition.ts';
import { ladderArgs } from '../../transcoder/ladder-command.ts';
import { createTranscoder } from '../../transcoder/transcoder.ts';
import { median, runBench, type Bench } from '../support/report.ts';

const run = promisify(execFile);
const { flags } = parseFlags(process.argv.slice(2));
const rounds = Number(flags.get('rounds') ?? 3);
const segmentCount = Number(flags.get('segments') ?? 10);
const work = join(import.meta.dirname, '..', '.work', 'transcode');
const ffmpeg = ffmpegBinaries().ffmpeg;

async function makeSegments(): Promise<string[]> {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'source'), { recursive: true });
  // A 1080p30 H.264/AAC source with 2 s GOPs, cut at keyframes by stream copy, as the broadcaster does.
  const source = join(work, 'source.flv');
  await run(ffmpeg, testPatternArgs({ width: 1920, height: 1080, fps: 30, seconds: 2 * segmentCount, output: source, realtime: false, videoBitrate: '6000k' }));
  await run(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-i', source, '-c', 'copy', '-f', 'segment', '-segment_time', '2', '-segment_format', 'mpegts', '-reset_timestamps', '0', join(work, 'source', '%d.ts')]);
  return readdirSync(join(work, 'source')).sort((a, b) => parseInt(a) - parseInt(b)).slice(0, segmentCount).map((f) => join(work, 'source', f));
}

const ladder = fitLadder({ width: 1920, height: 1080, fps: 30 });
const parameters = { rounds, segments: segmentCount, source: '1920x1080 30 fps, 2 s GOP', ladder: ladder.map((r) => r.name).join(','), encoder: 'libx264', concurrency: 1 };
process.exit(
  await runBench('transcode', parameters, async (bench) => {
    const segments = await makeSegments();
    bench.check(segments.length === segmentCount, `${segments.length} source segments cut`, `${segments.length} source segments cut, ${segmentCount} wanted`);
    const transcoder = await createTranscoder({ httpPort: 0, orchestrator: false, encoder: 'libx264', concurrency: 1, dataDir: null, pricePerPixel: 0n }, { logger: silentLogger });
    await transcoder.start();
    try {
      mkdirSync(join(work, 'bare'), { recursive: true });
      mkdirSync(join(work, 'castnet'), { recursive: true });
      const bareOutput = (seq: number, rendition: string) => join(work, 'bare', `${seq}-${rendition}.ts`);
      // The latest round's castnet renditions, kept in memory and checked after the timed rounds.
      const castnetOutputs = new Map<string, Buffer>();

      async function bare(): Promise<number> {
        const start = performance.now();
        for (const [i, input] of segments.entries()) {
          const outputs = Object.fromEntries(ladder.map((r) => [r.name, bareOutput(i, r.name)]));
          await run(ffmpeg, ladderArgs({ input, renditions: ladder, outputs, encoder: 'libx264', copyAudio: true, sourceFps: 30 }));
        }
        return (performance.now() - start) / 1000;
      }

      async function castnet(): Promise<number> {
        const start = performance.now();
        for (const [seq, input] of segments.entries()) {
          const { renditions } = await requestTranscode(transcoder.url, readFileSync(input), { playbackId: 'bench', seq, renditions: ladder, sourceFps: 30, sourceAudio: 'aac' }, 120_000);
          for (const [name, bytes] of renditions) castnetOutputs.set(`${seq}-${name}`, bytes);
        }
        return (performance.now() - start) / 1000;
      }

      const bareTimes: number[] = [];
      const castnetTimes: number[] = [];
      await bare(); // warm the page cache and FFmpeg's binary
      for (let round = 0; round < rounds; round++) {
        castnetOutputs.clear();
        // Alternate which path goes first, so drift in machine load does not favour one.
        if (round % 2 === 0) {
          bareTimes.push(await bare());
          castnetTimes.push(await castnet());
        } else {
          castnetTimes.push(await castnet());
          bareTimes.push(await bare());
        }
        await checkOutputs(bench, `round ${round + 1}`, segments, castnetOutputs, bareOutput);
        bench.figure(`round ${round + 1}: bare ${bareTimes.at(-1)!.toFixed(2)} s, castnet ${castnetTimes.at(-1)!.toFixed(2)} s`);
        bench.progress(`round ${round + 1}/${rounds} measured`);
      }
      const ratio = median(castnetTimes) / median(bareTimes);
      bench.figure(`\n${segments.length} 2 s 1080p30 segments → ${ladder.map((r) => r.name).join(', ')} (libx264 veryfast, audio copied), ${rounds} rounds`);
      bench.figure(`bare FFmpeg  median ${median(bareTimes).toFixed(2)} s`);
      bench.figure(`castnet HTTP median ${median(castnetTimes).toFixed(2)} s`);
      bench.figure(`castnet/bare wall-time ratio: ${ratio.toFixed(3)} (target ≤ 1.05)`);
    } finally {
      await transcoder.stop();
    }
  }),
);

/** Both paths made every rendition of every segment at the rendition's size, with as many frames as the source. */
async function checkOutputs(bench: Bench, label: string, segments: string[], castnetOutputs: Map<string, Buffer>, bareOutput: (seq: number, rendition: string) => string): Promise<void> {
  const problems: string[] = [];
  let checked = 0;
  for (const [seq, input] of segments.entries()) {
    const source = await ffprobe(input);
    for (const r of ladder) {
      const bytes = castnetOutputs.get(`${seq}-${r.name}`);
      if (!bytes?.length) {
        problems.push(`castnet ${seq}/${r.name}: missing`);
        continue;
      }
      const castnetFile = join(work, 'castnet', `${seq}-${r.name}.ts`);
      writeFileSync(castnetFile, bytes);
      for (const [who, file] of [['castnet', castnetFile], ['bare', bareOutput(seq, r.name)]] as const) {
        const info = await ffprobe(file).catch((err: Error) => ({ error: err.message }));
        if ('error' in info) problems.push(`${who} ${seq}/${r.name}: ${info.error}`);
        else if (info.width !== r.width || info.height !== r.height || info.frames !== source.frames) problems.push(`${who} ${seq}/${r.name}: ${info.width}x${info.height}, ${info.frames} frames (want ${r.width}x${r.height}, ${source.frames})`);
        else checked++;
      }
    }
  }
  const expected = segments.length * ladder.length * 2;
  bench.check(
    problems.length === 0,
    `${label}: ${checked}/${expected} outputs (castnet and bare) probed by ffprobe at their rendition's size with every source frame`,
    `${label}: ${problems.length} bad outputs: ${problems.slice(0, 5).join('; ')}`,
  );
}
