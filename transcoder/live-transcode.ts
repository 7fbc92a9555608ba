// Progressive transcoding of one segment (`POST /transcode/live`): the source arrives as CMAF (init segment,
// then fragments) while the broadcaster is still ingesting it, FFmpeg encodes from the first fragment on,
// and each rendition's fragments leave as FFmpeg writes them. One FFmpeg process per segment, as for whole
// segments: any transcoder takes any segment. The input is split into boxes here (media/fmp4.ts, bounded)
// and only whole, well-formed boxes reach FFmpeg; output fragments are moved onto the input's timeline
// (FFmpeg starts each output at 0), so renditions from different transcoders follow each other.
// Hot path: one call per input fragment and per output fragment (a few a second per rendition).

import { spawn } from 'node:child_process';
import { ffmpegBinaries } from '../media/ffmpeg-binaries.ts';
import { Fmp4Splitter, parseInit, rebaseFragment, trackStarts, unstretchFirstSample, type Fmp4Track } from '../media/fmp4.ts';
import { CastnetError, type ErrorContext } from '../protocol/errors.ts';
import { liveLadderArgs, type LiveLadderJob } from './ladder-command.ts';

export interface LiveOutput {
  /** The rendition's index in the job's ladder. */
  rendition: number;
  kind: 'init' | 'fragment';
  bytes: Buffer;
}

/** A running FFmpeg for one progressive job. */
export interface LiveEncode {
  /** Hands FFmpeg one whole box run (init, or a fragment); resolves once its pipe took it (backpressure). */
  write(bytes: Buffer): Promise<void>;
  /** No more input. */
  end(): void;
  /** Resolves when FFmpeg exited cleanly with every output closed; rejects with FFmpeg's reason. */
  done: Promise<void>;
}

/** Starts FFmpeg for a progressive job; `signal` kills it. Tests and attack scripts give their own. */
export type LiveRunner = (job: LiveLadderJob, onOutput: (out: { rendition: number; chunk: Buffer }) => void, signal: AbortSignal) => LiveEncode;

/** Spawns FFmpeg with the source on stdin and one pipe per rendition (fds 3, 4, …). */
export const runLiveLadder: LiveRunner = (job, onOutput, signal) => spawnLiveLadder(liveLadderArgs(job), job, onOutput, signal);

/** Runs FFmpeg with `args` (liveLadderArgs, or an attack script's variant of them) as a job's encode. */
export function spawnLiveLadder(args: string[], job: LiveLadderJob, onOutput: (out: { rendition: number; chunk: Buffer }) => void, signal: AbortSignal): LiveEncode {
  const outputs = job.renditions.map(() => 'pipe' as const);
  const proc = spawn(ffmpegBinaries().ffmpeg, args, { stdio: ['pipe', 'ignore', 'pipe', ...outputs] });
  let stderr = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (s: string) => {
    if (stderr.length < 4_096) stderr += s;
  });
  const closed = job.renditions.map((_, i) => {
    const pipe = proc.stdio[3 + i] as NodeJS.ReadableStream;
    pipe.on('data', (chunk: Buffer) => onOutput({ rendition: i, chunk }));
    return new Promise<void>((resolve) => pipe.once('close', resolve));
  });
  const kill = () => proc.kill('SIGKILL');
  signal.addEventListener('abort', kill, { once: true });
  // A sender that stops writing (or an input that ends early) must not leave FFmpeg waiting on the pipe.
  proc.stdin!.on('error', () => {});
  const exited = new Promise<void>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code, sig) => {
      signal.removeEventListener('abort', kill);
      if (code === 0) resolve();
      else reject(new Error(`FFmpeg exited with ${sig ?? code}${stderr ? `: ${stderr.trim().split('\n').slice(-2).join(' | ')}` : ''}`));
    });
  });
  return {
    write: (bytes) =>
      new Promise<void>((resolve) => {
        if (proc.stdin!.destroyed || proc.stdin!.writableEnded) return resolve();
        if (proc.stdin!.write(bytes)) return resolve();
        // Whichever comes first; the other listener goes with it, so a long input leaves none behind.
        const done = () => {
          proc.stdin!.off('drain', done).off('close', done);
          resolve();
        };
        proc.stdin!.once('drain', done).once('close', done);
      }),
    end: () => proc.stdin!.end(),
    done: Promise.all([exited, ...closed]).then(() => undefined),
  };
}

export interface LiveTranscodeRequest {
  job: LiveLadderJob;
  /** The request body as it arrives; at most `maxBytes` of it are read. */
  input: AsyncIterable<Buffer>;
  maxBytes: number;
  context: ErrorContext;
}

/**
 * Runs one progressive transcode: validates the input box by box as it arrives, feeds FFmpeg, and hands each
 * rendition's init segment and fragments (on the input's timeline) to `emit` as soon as each is whole.
 * Rejects with INVALID_SEGMENT for input that is not CMAF (or too large), with TRANSCODE_FAILED when FFmpeg
 * fails, with UNAVAILABLE when `signal` aborted (the sender gave up, the node is stopping).
 */
export async function transcodeLive(req: LiveTranscodeRequest, emit: (out: LiveOutput) => void, runner: LiveRunner, signal: AbortSignal): Promise<void> {
  const { job, context } = req;
  const kill = new AbortController();
  const stop = () => kill.abort();
  signal.addEventListener('abort', stop, { once: true });
  let inputTracks: Fmp4Track[] | null = null;
  /**
   * Where the input begins on its timeline: its video track's first decode time (its earliest track's when
   * the first fragment has no video), which each output's first video decode time is moved to.
   */
  let inputStart: number | null = null;
  const outputs = job.renditions.map((_, rendition) => {
    let tracks: Fmp4Track[] | null = null;
    const seen = new Set<number>();
    /** Seconds added to this output's decode times, fixed by its first fragment. */
    let offset: number | null = null;
    const splitter = new Fmp4Splitter({
      init: (bytes) => {
        tracks = parseInit(bytes);
        emit({ rendition, kind: 'init', bytes });
      },
      fragment: (bytes) => {
        // FFmpeg keeps the tracks' relative timing by stretching a later track's first sample: undone, so
        // segments encoded apart meet without a hole or an overlap (media/fmp4.ts unstretchFirstSample).
        // Only a track's first fragment can hold a stretched sample: later fragments skip the walk.
        if (seen.size < tracks!.length) unstretchFirstSample(bytes, seen, tracks!);
        offset ??= outputOffset(bytes, tracks!, inputStart ?? 0);
        rebaseFragment(bytes, tracks!, offset);
        emit({ rendition, kind: 'fragment', bytes });
      },
    });
    return splitter;
  });
  let outputError: unknown = null;
  const encode = runner(
    job,
    ({ rendition, chunk }) => {
      if (outputError) return;
      try {
        outputs[rendition]!.push(chunk);
      } catch (err) {
        outputError = err;
        kill.abort();
      }
    },
    kill.signal,
  );
  // FFmpeg may fail while the input is still being read: its failure is awaited below, after the input.
  encode.done.catch(() => {});
  let inputError: unknown = null;
  const pending: Buffer[] = [];
  const inputSplitter = new Fmp4Splitter({
    init: (bytes) => {
      if (inputTracks) throw new CastnetError('INVALID_SEGMENT', 'a second init segment in the input', context);
      inputTracks = parseInit(bytes);
      if (!inputTracks.some((t) => t.kind === 'video')) throw new CastnetError('INVALID_SEGMENT', 'the input has no video track', context);
      pending.push(bytes);
    },
    fragment: (bytes) => {
      if (inputStart === null) {
        const starts = trackStarts(bytes, inputTracks!);
        if (starts.size === 0) throw new CastnetError('INVALID_SEGMENT', 'the first fragment has no track of the init segment', context);
        inputStart = videoStart(starts, inputTracks!) ?? Math.min(...starts.values());
      }
      pending.push(bytes);
    },
  });
  try {
    let received = 0;
    for await (const chunk of req.input) {
      if (kill.signal.aborted) break;
      received += chunk.length;
      if (received > req.maxBytes) throw new CastnetError('PAYLOAD_TOO_LARGE', `a segment may be at most ${req.maxBytes} bytes`, context);
      try {
        inputSplitter.push(chunk);
      } catch (err) {
        throw err instanceof CastnetError && err.code !== 'INVALID_SEGMENT' ? err : new CastnetError('INVALID_SEGMENT', `the input is not CMAF: ${(err as Error).message}`, context);
      }
      while (pending.length) await encode.write(pending.shift()!);
    }
    if (!kill.signal.aborted && !inputTracks) throw new CastnetError('INVALID_SEGMENT', 'the input ended before its init segment', context);
    if (!kill.signal.aborted && inputStart === null) throw new CastnetError('INVALID_SEGMENT', 'the input ended before its first fragment', context);
  } catch (err) {
    inputError = err;
    kill.abort();
  }
  encode.end();
  try {
    await encode.done;
  } catch (err) {
    if (inputError) throw inputError;
    if (outputError) throw new CastnetError('TRANSCODE_FAILED', `FFmpeg's output is not fragmented MP4: ${(outputError as Error).message}`, context);
    if (signal.aborted) throw new CastnetError('UNAVAILABLE', 'the transcode was cancelled: the transcoder is stopping or the sender gave up', context, { cause: err });
    throw new CastnetError('INVALID_SEGMENT', `FFmpeg could not transcode the segment: ${(err as Error).message}`, context, { cause: err });
  } finally {
    signal.removeEventListener('abort', stop);
  }
  if (inputError) throw inputError;
  if (outputError) throw new CastnetError('TRANSCODE_FAILED', `FFmpeg's output is not fragmented MP4: ${(outputError as Error).message}`, context);
  if (signal.aborted) throw new CastnetError('UNAVAILABLE', 'the transcode was cancelled: the transcoder is stopping or the sender gave up', context);
  outputs.forEach((o, i) => {
    if (!o.init) throw new CastnetError('TRANSCODE_FAILED', `FFmpeg produced no output for ${job.renditions[i]!.name}`, { ...context, rendition: job.renditions[i]!.name });
  });
}

/** A fragment's video track start, in seconds, when it has one. */
function videoStart(starts: Map<number, number>, tracks: readonly Fmp4Track[]): number | undefined {
  const video = tracks.find((t) => t.kind === 'video');
  return video ? starts.get(video.id) : undefined;
}

/**
 * Seconds that put an output on the input's timeline: its first video frame's decode time goes where the
 * input's does. Anchored on video, not on whichever track FFmpeg starts at 0: that is the audio when the
 * encoder's priming reaches before the first frame (no B-frames to hold the video back), by an amount that
 * changes from segment to segment, which left holes in the audio where segments encoded apart meet.
 */
function outputOffset(firstFragment: Uint8Array, tracks: readonly Fmp4Track[], inputStart: number): number {
  const starts = trackStarts(firstFragment, tracks);
  if (starts.size === 0) return inputStart;
  const earliest = Math.min(...starts.values());
  // A stream's first segment starts at 0, where priming before the first frame has nowhere to go: that
  // segment moves later by the priming's reach (a few ms of overlap with the next, never a hole).
  return Math.max(inputStart - (videoStart(starts, tracks) ?? earliest), -earliest);
}
