// The transcoder over real HTTP with real FFmpeg: a generated 2 s segment in, the ladder out.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { ffmpegBinaries } from '../media/ffmpeg-binaries.ts';
import { ffprobe } from '../media/ffprobe.ts';
import { testPatternArgs } from '../media/test-pattern.ts';
import { silentLogger } from '../observability/logger.ts';
import { fitLadder } from '../protocol/rendition.ts';
import { requestTranscode } from '../broadcaster/node-clients.ts';
import { transcodeHeaders } from '../protocol/transcode-request.ts';
import { createTranscoder, type Transcoder } from './transcoder.ts';

const run = promisify(execFile);

/** The value of castnet_transcoder_segments_transcoded_total for one result, 0 before the first. */
async function transcoded(url: string, result: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`castnet_transcoder_segments_transcoded_total\\{[^}]*result="${result}"[^}]*\\} (\\d+)`).exec(text)?.[1] ?? 0);
}

describe('transcoder', () => {
  let transcoder: Transcoder;
  let dir: string;
  let segment: Buffer;
  const ladder = fitLadder({ width: 854, height: 480, fps: 30 });
  const params = { playbackId: 'tx1', seq: 0, renditions: ladder, sourceFps: 30, sourceAudio: 'aac' };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'castnet-transcoder-test-'));
    const file = join(dir, 'source.ts');
    await run(ffmpegBinaries().ffmpeg, testPatternArgs({ width: 854, height: 480, fps: 30, seconds: 2, output: file, realtime: false, format: 'mpegts' }));
    segment = readFileSync(file);
    transcoder = await createTranscoder({ httpPort: 0, orchestrator: false, encoder: 'libx264', dataDir: null, pricePerPixel: 0n }, { logger: silentLogger });
    await transcoder.start();
  });

  afterAll(async () => {
    await transcoder.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('returns every rendition of the ladder at its resolution, with the source timestamps kept, and counts it', async () => {
    const before = await transcoded(transcoder.url, 'ok');
    const { renditions } = await requestTranscode(transcoder.url, segment, params, 30_000);
    assert.equal(await transcoded(transcoder.url, 'ok'), before + 1);
    assert.deepEqual([...renditions.keys()], ['480p', '360p']);
    const source = await ffprobe(join(dir, 'source.ts'));
    for (const spec of ladder) {
      const file = join(dir, `${spec.name}.ts`);
      writeFileSync(file, renditions.get(spec.name)!);
      const info = await ffprobe(file);
      assert.deepEqual([info.width, info.height, info.videoCodec, info.audioCodec], [spec.width, spec.height, 'h264', 'aac']);
      assert.ok(Math.abs(info.duration - source.duration) < 0.1, `${spec.name} lasts as long as the source`);
      assert.ok(info.frames >= 59, `${spec.name} keeps every frame (${info.frames})`);
    }
    const { stdout } = await run(ffmpegBinaries().ffprobe, ['-v', 'error', '-show_entries', 'format=start_time', '-of', 'csv=p=0', join(dir, '360p.ts')]);
    const { stdout: sourceStart } = await run(ffmpegBinaries().ffprobe, ['-v', 'error', '-show_entries', 'format=start_time', '-of', 'csv=p=0', join(dir, 'source.ts')]);
    assert.ok(Math.abs(Number(stdout) - Number(sourceStart)) < 0.05, `rendition starts where the source does (${stdout.trim()} vs ${sourceStart.trim()})`);
  });

  it('refuses a truncated segment with 422 INVALID_SEGMENT before running FFmpeg', async () => {
    const res = await fetch(`${transcoder.url}/transcode`, { method: 'POST', headers: transcodeHeaders(params), body: new Uint8Array(segment.subarray(0, 188 * 100 + 57)) });
    assert.equal(res.status, 422);
    const body = (await res.json()) as { error: { code: string; message: string; seq: number } };
    assert.equal(body.error.code, 'INVALID_SEGMENT');
    assert.match(body.error.message, /truncated/);
    assert.equal(body.error.seq, 0);
  });

  it('refuses MPEG-TS that FFmpeg cannot decode with 422 and a reason', async () => {
    const junk = Buffer.alloc(188 * 50, 0);
    for (let i = 0; i < 50; i++) junk[i * 188] = 0x47;
    const res = await fetch(`${transcoder.url}/transcode`, { method: 'POST', headers: transcodeHeaders(params), body: new Uint8Array(junk) });
    assert.equal(res.status, 422);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /FFmpeg could not transcode/);
  });

  it('refuses a request without a ladder with 400 and counts refusals in metrics', async () => {
    const before = await transcoded(transcoder.url, 'BAD_REQUEST');
    const res = await fetch(`${transcoder.url}/transcode`, { method: 'POST', headers: { 'castnet-playback-id': 'tx1', 'castnet-seq': '1' }, body: new Uint8Array(segment) });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /renditions/);
    assert.equal(await transcoded(transcoder.url, 'BAD_REQUEST'), before + 1);
  });
});
