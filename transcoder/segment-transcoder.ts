// Transcodes one segment into the ladder with FFmpeg (through fluent-ffmpeg) in a scratch directory.
// Hot path: one call per segment; the input is written once and each output read once.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fluent } from '../media/ffmpeg-binaries.ts';
import { CastnetError, type ErrorContext } from '../protocol/errors.ts';
import type { RenditionSpec } from '../protocol/rendition.ts';
import { ladderInputArgs, ladderOutputArgs, type LadderJob, type VideoEncoder } from './ladder-command.ts';

export interface TranscodeRequest {
  segment: Buffer;
  renditions: ReadonlyArray<RenditionSpec>;
  copyAudio: boolean;
  sourceFps: number;
  context: ErrorContext;
}

export interface TranscodedRendition {
  spec: RenditionSpec;
  bytes: Buffer;
}

/**
 * Runs one ladder job: reads `job.input`, writes every file in `job.outputs`; rejects with FFmpeg's reason.
 * When `signal` aborts (the node stops, or the sender gave up), the encoder is killed at once.
 */
export type LadderRunner = (job: LadderJob, timeoutSeconds: number, signal?: AbortSignal) => Promise<void>;

/** The ladder runner that spawns FFmpeg. */
export const runLadder: LadderRunner = async (job, timeoutSeconds, signal) => {
  signal?.throwIfAborted();
  await new Promise<void>((resolve, reject) => {
    const command = fluent()(job.input, { timeout: timeoutSeconds }).inputOptions(ladderInputArgs());
    for (const r of job.renditions) command.output(job.outputs[r.name]!).outputOptions(ladderOutputArgs(job, r));
    const onAbort = () => command.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    command.on('error', (err: Error, _stdout: unknown, stderr: unknown) => {
      signal?.removeEventListener('abort', onAbort);
      reject(new Error(`${err.message.split('\n')[0]}${typeof stderr === 'string' && stderr ? `: ${stderr.trim().split('\n').slice(-2).join(' | ')}` : ''}`));
    });
    command.on('end', () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    command.run();
  });
};

export async function transcodeSegment(req: TranscodeRequest, encoder: VideoEncoder, runner: LadderRunner = runLadder, timeoutSeconds = 60, signal?: AbortSignal): Promise<TranscodedRendition[]> {
  const dir = await mkdtemp(join(tmpdir(), 'castnet-transcode-'));
  try {
    const input = join(dir, 'in.ts');
    await writeFile(input, req.segment);
    const outputs = Object.fromEntries(req.renditions.map((r) => [r.name, join(dir, `${r.name}.ts`)]));
    const job: LadderJob = { input, renditions: req.renditions, outputs, encoder, copyAudio: req.copyAudio, sourceFps: req.sourceFps };
    try {
      await runner(job, timeoutSeconds, signal);
    } catch (err) {
      if (signal?.aborted) throw new CastnetError('UNAVAILABLE', 'the transcode was cancelled: the transcoder is stopping or the sender gave up', req.context, { cause: err });
      throw new CastnetError('INVALID_SEGMENT', `FFmpeg could not transcode the segment: ${(err as Error).message}`, req.context, { cause: err });
    }
    return await Promise.all(
      req.renditions.map(async (spec) => {
        const bytes = await readFile(outputs[spec.name]!).catch(() => Buffer.alloc(0));
        if (bytes.length === 0) throw new CastnetError('TRANSCODE_FAILED', `FFmpeg produced no output for ${spec.name}`, { ...req.context, rendition: spec.name });
        return { spec, bytes };
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
