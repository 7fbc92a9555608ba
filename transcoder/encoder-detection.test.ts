import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { detectEncoder } from './encoder-detection.ts';

describe('encoder detection at start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'castnet-encoders-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("takes libx264 from this machine's FFmpeg when asked for it", async () => {
    assert.deepEqual(await detectEncoder('libx264'), { encoder: 'libx264', reason: 'configured' });
  });

  it('refuses to start when FFmpeg does not run, naming the binary and what to do', async () => {
    const missing = join(dir, 'no-such-ffmpeg');
    await assert.rejects(detectEncoder('libx264', missing), new RegExp(`FFmpeg at ${missing.replace(/[.]/g, '\\.')} does not run \\(.*ENOENT.*\\): set FFMPEG_PATH or install FFmpeg`));
    await assert.rejects(detectEncoder('auto', missing), /does not run/);
  });

  it('refuses an FFmpeg without libx264', async () => {
    // An FFmpeg build that lists encoders, none of them H.264.
    const fake = join(dir, 'ffmpeg-without-x264');
    writeFileSync(fake, '#!/bin/sh\necho "Encoders:"\necho " V..... mpeg4                MPEG-4 part 2"\n');
    chmodSync(fake, 0o755);
    await assert.rejects(detectEncoder('libx264', fake), /has no libx264 encoder/);
    await assert.rejects(detectEncoder('auto', fake), /has no libx264 encoder/);
  });
});
