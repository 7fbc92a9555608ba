// bench/transcode: the transcoder's whole per-segment path (HTTP request in, FFmpeg, renditions out as
// multipart) against bare FFmpeg producing the same ladder from the same files with the same arguments,
// over ten 2 s 1080p30 segments, interleaved in rounds in one run. Prints castnet/bare wall time, after
// checking with ffprobe that both paths produced every rendition at its size with every source frame.
// With --progressive (the default), a third path: the same segments as CMAF through POST /transcode/live
// (low latency's progressive transcoding, each segment sent whole here so only the work differs), checked
// the same way; it prints each path's CPU seconds (the machine's busy time from /proc/stat while the path
// ran: run it on a quiet machine) and progressive/whole-segment ratios of CPU and wall time.
// Usage: npm run bench:transcode [-- --rounds 3 --segments 10 --progressive true]

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
import { startLiveTranscode } from '../../broadcaster/live-transcode-client.ts';
import { RenditionCollector } from '../../broadcaster/progressive-transcodes.ts';
import { Fmp4Splitter, fragmentTiming, parseInit } from '../../media/fmp4.ts';
import { median, runBench, type Bench } from '../support/report.ts';

const run = promisify(execFile);
const { flags } = parseFlags(process.argv.slice(2));
const rounds = Number(flags.get('rounds') ?? 3);
const segmentCount = Number(flags.get('segments') ?? 10);
const progressive = String(flags.get('progressive') ?? 'true') !== 'false';
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

/** The same source as CMAF, as the broadcaster's low-latency cutter writes it: the init, and each 2 s segment's fragments. */
async function makeCmafSegments(): Promise<{ init: Buffer; segments: Buffer[] }> {
  const file = join(work, 'source.mp4');
  await run(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-i', join(work, 'source.flv'), '-c', 'copy', '-f', 'mp4', '-movflags', 'empty_moov+default_base_moof+frag_keyframe', '-frag_duration', '300600', file]);
  let init: Buffer | null = null;
  const fragments: Buffer[] = [];
  new Fmp4Splitter({ init: (b) => (init = b), fragment: (b) => fragments.push(b) }).push(readFileSync(file));
  const tracks = parseInit(init!);
  const segments: Buffer[][] = [];
  for (const f of fragments) {
    const t = fragmentTiming(f, tracks);
    if (t.independent || segments.length === 0) segments.push([]);
    segments.at(-1)!.push(f);
  }
  return { init: init!, segments: segments.slice(0, segmentCount).map((s) => Buffer.concat(s)) };
}

/** CPU seconds the whole machine spent (user + nice + system, from /proc/stat) since `from`. */
function busySeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (cpu[0]! + cpu[1]! + cpu[2]! + (cpu[5] ?? 0) + (cpu[6] ?? 0)) / 100;
}

const ladder = fitLadder({ width: 1920, height: 1080, fps: 30 });
const parameters = { rounds, segments: segmentCount, progressive, source: '1920x1080 30 fps, 2 s GOP', ladder: ladder.map((r) => r.name).join(','), encoder: 'libx264', concurrency: 1 };
process.exit(
  await runBench('transcode', parameters, async (bench) => {
    const segments = await makeSegments();
    bench.check(segments.length === segmentCount, `${segments.length} source segments cut`, `${segments.length} source segments cut, ${segmentCount} wanted`);
    const cmaf = progressive ? await makeCmafSegments() : null;
    if (cmaf) bench.check(cmaf.segments.length === segmentCount, `${cmaf.segments.length} CMAF source segments cut`, `${cmaf.segments.length} CMAF source segments cut, ${segmentCount} wanted`);
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

      const liveOutputs = new Map<string, Buffer>();
      async function live(): Promise<number> {
        const start = performance.now();
        for (const [seq, bytes] of cmaf!.segments.entries()) {
          const collector = new RenditionCollector(ladder);
          const call = startLiveTranscode(transcoder.url, { playbackId: 'bench', seq, renditions: ladder, sourceFps: 30, sourceAudio: 'aac' }, { paidSeconds: 2.5, partTarget: 0.334 }, { onFrame: (f) => collector.add(f), timeoutMs: 120_000, maxAnswerBytes: 256 * 1024 * 1024 });
          call.write(cmaf!.init);
          call.write(bytes);
          call.end();
          await call.done;
          for (const [name, out] of collector.result()) liveOutputs.set(`${seq}-${name}`, out);
        }
        return (performance.now() - start) / 1000;
      }
      /** Wall seconds and machine CPU seconds of one path. */
      async function timed(path: () => Promise<number>): Promise<{ wall: number; cpu: number }> {
        const before = busySeconds();
        const wall = await path();
        return { wall, cpu: busySeconds() - before };
      }
      const cpu: Record<'bare' | 'castnet' | 'live', number[]> = { bare: [], castnet: [], live: [] };
      const liveTimes: number[] = [];
      const bareTimes: number[] = [];
      const castnetTimes: number[] = [];
      await bare(); // warm the page cache and FFmpeg's binary
      for (let round = 0; round < rounds; round++) {
        castnetOutputs.clear();
        // Alternate which path goes first, so drift in machine load does not favour one.
        const paths: Array<['bare' | 'castnet' | 'live', () => Promise<number>, number[]]> = [['bare', bare, bareTimes], ['castnet', castnet, castnetTimes], ...(cmaf ? [['live', live, liveTimes] as ['live', () => Promise<number>, number[]]] : [])];
        for (const [name, path, times] of round % 2 === 0 ? paths : [...paths].reverse()) {
          const t = await timed(path);
          times.push(t.wall);
          cpu[name].push(t.cpu);
        }
        await checkOutputs(bench, `round ${round + 1}`, segments, [
          { who: 'castnet', file: (seq, r) => join(work, 'castnet', `${seq}-${r}.ts`), bytes: castnetOutputs },
          { who: 'bare', file: bareOutput },
          ...(cmaf ? [{ who: 'progressive', file: (seq: number, r: string) => join(work, 'castnet', `${seq}-${r}.mp4`), bytes: liveOutputs }] : []),
        ]);
        bench.figure(`round ${round + 1}: bare ${bareTimes.at(-1)!.toFixed(2)} s (CPU ${cpu.bare.at(-1)!.toFixed(1)} s), castnet ${castnetTimes.at(-1)!.toFixed(2)} s (CPU ${cpu.castnet.at(-1)!.toFixed(1)} s)${cmaf ? `, progressive ${liveTimes.at(-1)!.toFixed(2)} s (CPU ${cpu.live.at(-1)!.toFixed(1)} s)` : ''}`);
        bench.progress(`round ${round + 1}/${rounds} measured`);
      }
      const ratio = median(castnetTimes) / median(bareTimes);
      bench.figure(`\n${segments.length} 2 s 1080p30 segments → ${ladder.map((r) => r.name).join(', ')} (libx264 veryfast, audio copied), ${rounds} rounds`);
      bench.figure(`bare FFmpeg  median ${median(bareTimes).toFixed(2)} s`);
      bench.figure(`castnet HTTP median ${median(castnetTimes).toFixed(2)} s`);
      bench.figure(`castnet/bare wall-time ratio: ${ratio.toFixed(3)} (target ≤ 1.05)`);
      if (cmaf) {
        bench.figure(`progressive (POST /transcode/live, CMAF) median ${median(liveTimes).toFixed(2)} s; CPU medians: bare ${median(cpu.bare).toFixed(1)} s, whole-segment ${median(cpu.castnet).toFixed(1)} s, progressive ${median(cpu.live).toFixed(1)} s`);
        bench.figure(`progressive/whole-segment: CPU ${(median(cpu.live) / median(cpu.castnet)).toFixed(3)}, wall time ${(median(liveTimes) / median(castnetTimes)).toFixed(3)}`);
      }
    } finally {
      await transcoder.stop();
    }
  }),
);

/** Where one path's output of a segment's rendition is: a file it wrote, or bytes it answered (written to `file` to probe). */
type OutputSource = { who: string; file: (seq: number, rendition: string) => string; bytes?: Map<string, Buffer> };

/** Every path made every rendition of every segment at the rendition's size, with as many frames as the source. */
async function checkOutputs(bench: Bench, label: string, segments: string[], paths: OutputSource[]): Promise<void> {
  const problems: string[] = [];
  let checked = 0;
  for (const [seq, input] of segments.entries()) {
    const source = await ffprobe(input);
    for (const r of ladder) {
      for (const path of paths) {
        const file = path.file(seq, r.name);
        if (path.bytes) {
          const bytes = path.bytes.get(`${seq}-${r.name}`);
          if (!bytes?.length) {
            problems.push(`${path.who} ${seq}/${r.name}: missing`);
            continue;
          }
          writeFileSync(file, bytes);
        }
        const info = await ffprobe(file).catch((err: Error) => ({ error: err.message }));
        if ('error' in info) problems.push(`${path.who} ${seq}/${r.name}: ${info.error}`);
        else if (info.width !== r.width || info.height !== r.height || info.frames !== source.frames) problems.push(`${path.who} ${seq}/${r.name}: ${info.width}x${info.height}, ${info.frames} frames (want ${r.width}x${r.height}, ${source.frames})`);
        else checked++;
      }
    }
  }
  const expected = segments.length * ladder.length * paths.length;
  bench.check(
    problems.length === 0,
    `${label}: ${checked}/${expected} outputs (${paths.map((p) => p.who).join(', ')}) probed by ffprobe at their rendition's size with every source frame`,
    `${label}: ${problems.length} bad outputs: ${problems.slice(0, 5).join('; ')}`,
  );
}
