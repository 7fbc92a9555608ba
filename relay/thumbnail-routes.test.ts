// Thumbnails over HTTP: the origin serves the one it made from a pushed segment, cached like a playlist; an
// edge serves its parent's, asking the parent once however many viewers ask at once; none yet is a 404
// with a reason.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { ffmpegBinaries } from '../media/ffmpeg-binaries.ts';
import { jpegSize } from '../media/jpeg.ts';
import { testPatternArgs } from '../media/test-pattern.ts';
import { silentLogger } from '../observability/logger.ts';
import { TestPublisher } from '../test/support/signed-content.ts';
import { waitFor } from '../test/support/wait.ts';
import { createRelay, type Relay } from './relay.ts';
import { isWebp } from './thumbnailer.ts';

const descriptor = { targetDuration: 1, variants: [{ name: 'source', width: 320, height: 180, bandwidth: 1e6, codecs: 'avc1.64001e' }] };

describe('thumbnail routes', () => {
  let dir: string;
  let origin: Relay;
  let edge: Relay;
  const publisher = new TestPublisher();
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'castnet-thumb-routes-'));
    const out = join(dir, 'seg.ts');
    execFileSync(ffmpegBinaries().ffmpeg, testPatternArgs({ width: 320, height: 180, fps: 30, seconds: 1, output: out, realtime: false, format: 'mpegts' }), { stdio: 'ignore' });
    origin = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false }, { logger: silentLogger });
    await origin.start();
    edge = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, parents: [origin.url], edge: true }, { logger: silentLogger });
    await edge.start();
    await publisher.descriptor(origin.url, 'pictured', descriptor);
    assert.equal((await publisher.segment(origin.url, 'pictured', 'source', 0, readFileSync(out), publisher.meta(1))).status, 201);
  });
  afterAll(async () => {
    await Promise.all([origin.stop(), edge.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the origin thumbnail as a JPEG with a short max-age, and the edge serves it from one request to its parent', async () => {
    const got = await waitFor('the origin thumbnail', async () => {
      const res = await fetch(`${origin.url}/hls/pictured/thumbnail.jpg`);
      return res.status === 200 ? res : undefined;
    }, 15_000, 100);
    assert.equal(got.headers.get('content-type'), 'image/jpeg');
    assert.equal(got.headers.get('cache-control'), 'public, max-age=5');
    const jpeg = Buffer.from(await got.arrayBuffer());
    assert.deepEqual(jpegSize(jpeg), { width: 320, height: 180 });

    const viewers = await Promise.all(Array.from({ length: 10 }, () => fetch(`${edge.url}/hls/pictured/thumbnail.jpg`)));
    for (const res of viewers) {
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'public, max-age=5');
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(jpeg));
    }
    const metrics = await (await fetch(`${edge.url}/metrics`)).text();
    assert.match(metrics, /castnet_relay_upstream_requests_total\{kind="thumbnail"[^}]*\} 1\n/, 'one request to the parent for ten viewers');
  });

  it('serves the same thumbnail as WebP (image/webp) at the origin and through the edge', async () => {
    const got = await waitFor('the origin WebP', async () => {
      const res = await fetch(`${origin.url}/hls/pictured/thumbnail.webp`);
      return res.status === 200 ? res : undefined;
    }, 15_000, 100);
    assert.equal(got.headers.get('content-type'), 'image/webp');
    assert.equal(got.headers.get('cache-control'), 'public, max-age=5');
    const webp = Buffer.from(await got.arrayBuffer());
    assert.ok(isWebp(webp));
    const viaEdge = await fetch(`${edge.url}/hls/pictured/thumbnail.webp`);
    assert.equal(viaEdge.status, 200);
    assert.equal(viaEdge.headers.get('content-type'), 'image/webp');
    assert.ok(Buffer.from(await viaEdge.arrayBuffer()).equals(webp));
    assert.equal((await fetch(`${origin.url}/hls/pictured/thumbnail.gif`)).status, 404, 'no other format');
  });

  it('answers 404 with a reason when a stream has no thumbnail, at the origin and through an edge', async () => {
    const none = await fetch(`${origin.url}/hls/unknown/thumbnail.jpg`);
    assert.equal(none.status, 404);
    assert.equal(((await none.json()) as { error: { reason: string } }).error.reason, 'no_thumbnail');
    const viaEdge = await fetch(`${edge.url}/hls/unknown/thumbnail.jpg`);
    assert.equal(viaEdge.status, 404);
  });
});
