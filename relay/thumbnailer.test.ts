import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { ffmpegBinaries } from '../media/ffmpeg-binaries.ts';
import { testPatternArgs } from '../media/test-pattern.ts';
import { jpegSize } from '../media/jpeg.ts';
import { isJpeg, isWebp, Thumbnailer } from './thumbnailer.ts';
import { waitFor } from '../test/support/wait.ts';

const variants = [
  { name: 'source', width: 640, height: 360, bandwidth: 1_000_000, codecs: 'avc1.64001e' },
  { name: '240p', width: 426, height: 240, bandwidth: 400_000, codecs: 'avc1.64001e' },
];

describe('Thumbnailer', () => {
  let dir: string;
  let segment: Buffer;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'castnet-thumb-'));
    const out = join(dir, 'seg.ts');
    execFileSync(ffmpegBinaries().ffmpeg, testPatternArgs({ width: 640, height: 360, fps: 30, seconds: 1, output: out, realtime: false, format: 'mpegts' }), { stdio: 'ignore' });
    segment = readFileSync(out);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const logger = pino({ level: 'silent' });

  it("makes a JPEG of the largest rendition's segment, and not again within the interval", async () => {
    let now = 0;
    const t = new Thumbnailer({ ffmpegPath: ffmpegBinaries().ffmpeg, logger, now: () => now });
    const made: string[] = [];
    t.on('thumbnail', (id) => made.push(id));
    t.offer('s', '240p', segment, variants);
    assert.throws(() => t.get('s'), (err: { code?: string; context?: { reason?: string } }) => err.code === 'NOT_FOUND' && err.context?.reason === 'no_thumbnail');
    t.offer('s', 'source', segment, variants);
    await waitFor('a thumbnail', () => made.length === 1, 10_000, 20);
    const jpeg = t.get('s').bytes;
    assert.ok(isJpeg(jpeg));
    assert.deepEqual(jpegSize(jpeg), { width: 640, height: 360 });
    // The same frame as WebP, from the same FFmpeg run.
    const webp = t.get('s').webp;
    assert.ok(webp && isWebp(webp.bytes), 'a WebP too');
    assert.notEqual(webp.etag, t.get('s').etag);
    now = 5_000;
    t.offer('s', 'source', segment, variants);
    now = 10_000;
    t.offer('s', 'source', segment, variants);
    await waitFor('a second thumbnail', () => made.length === 2, 10_000, 20);
    t.close();
  });

  it('makes JPEGs only, saying so once, with an FFmpeg that makes no WebP', async () => {
    // A wrapper that refuses the WebP encoder, as an FFmpeg built without libwebp does.
    const dir = mkdtempSync(join(tmpdir(), 'castnet-nowebp-'));
    const wrapper = join(dir, 'ffmpeg');
    writeFileSync(wrapper, `#!/bin/sh\ncase "$*" in *libwebp*) echo "Unknown encoder 'libwebp'" >&2; exit 1;; esac\nexec ${JSON.stringify(ffmpegBinaries().ffmpeg)} "$@"\n`, { mode: 0o755 });
    const warnings: string[] = [];
    let now = 0;
    const t = new Thumbnailer({ ffmpegPath: wrapper, logger: pino({ level: 'warn' }, { write: (s: string) => void warnings.push(s) }), now: () => now });
    const made: string[] = [];
    t.on('thumbnail', (id) => made.push(id));
    try {
      t.offer('s', 'source', segment, variants);
      await waitFor('a thumbnail', () => made.length === 1, 10_000, 20);
      assert.ok(isJpeg(t.get('s').bytes));
      assert.equal(t.get('s').webp, null);
      now = 10_000;
      t.offer('s', 'source', segment, variants);
      await waitFor('a second thumbnail', () => made.length === 2, 10_000, 20);
      assert.equal(warnings.filter((w) => /JPEG only/.test(w)).length, 1, 'said once');
    } finally {
      t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps no thumbnail from bytes FFmpeg cannot decode, and logs why', async () => {
    const warnings: string[] = [];
    const t = new Thumbnailer({ ffmpegPath: ffmpegBinaries().ffmpeg, logger: pino({ level: 'warn' }, { write: (s: string) => void warnings.push(s) }) });
    t.offer('bad', 'source', Buffer.alloc(188 * 10, 0x47), variants);
    await waitFor('the failure logged', () => warnings.length === 1, 10_000, 20);
    assert.match(warnings[0]!, /thumbnail not made/);
    assert.throws(() => t.get('bad'), { code: 'NOT_FOUND' });
    t.close();
  });
});
