// The relay over real HTTP on loopback: pushes, playlists, segment caching headers, the end of a stream,
// bad requests, and how an edge reports a directory it cannot ask.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRelay, type Relay } from './relay.ts';
import { silentLogger } from '../observability/logger.ts';
import { CONTENT_SIGNATURE_HEADER } from '../protocol/content-signature.ts';
import { parseSegmentMetadata } from '../protocol/segment-metadata.ts';
import { checkSegmentBytes } from '../protocol/segment-signing.ts';
import { TestPublisher } from '../test/support/signed-content.ts';

const ts = new Uint8Array(188 * 10).fill(0x47);
const publisher = new TestPublisher();

/** A request with the path exactly as written (fetch would normalise `..` away). */
function rawGet(url: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    request({ hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject).end();
  });
}

const descriptor = { targetDuration: 2, variants: [{ name: 'source', width: 640, height: 360, bandwidth: 1e6, codecs: 'avc1.64001e,mp4a.40.2' }] };

async function publish(url: string, playbackId: string, segments: number): Promise<void> {
  assert.equal((await publisher.descriptor(url, playbackId, descriptor)).status, 204);
  for (let seq = 0; seq < segments; seq++) assert.equal((await publisher.segment(url, playbackId, 'source', seq, ts)).status, 201);
}

async function refusal(res: Response): Promise<[number, string | undefined]> {
  return [res.status, ((await res.json()) as { error: { reason?: string } }).error.reason];
}

async function listening(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('relay HTTP', () => {
  let relay: Relay;

  beforeAll(async () => {
    relay = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false }, { logger: silentLogger });
    await relay.start();
    await publish(relay.url, 'abc', 1);
  });

  afterAll(() => relay.stop());

  it('serves a pushed segment as immutable, with a strong ETag, and answers a revalidation with 304', async () => {
    const res = await fetch(`${relay.url}/hls/abc/source/0.ts`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'video/mp2t');
    assert.match(res.headers.get('cache-control')!, /public, max-age=\d+, immutable/);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.equal((await res.arrayBuffer()).byteLength, ts.length);
    const etag = res.headers.get('etag')!;
    assert.match(etag, /^"[^"]+"$/);
    const again = await fetch(`${relay.url}/hls/abc/source/0.ts`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    const head = await fetch(`${relay.url}/hls/abc/source/0.ts`, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), String(ts.length));
  });

  it('answers 404 STREAM_NOT_FOUND for an unknown playback id', async () => {
    const res = await fetch(`${relay.url}/hls/unknown/master.m3u8`);
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { error: { playbackId: 'unknown', code: 'STREAM_NOT_FOUND', message: 'no live stream with this playback id on this relay' } });
    const seg = await fetch(`${relay.url}/hls/abc/source/99.ts`);
    assert.equal(seg.status, 404);
    assert.equal(((await seg.json()) as { error: { code: string } }).error.code, 'SEGMENT_NOT_FOUND');
  });

  it('refuses a path with ".." (plain or encoded) with 400 and keeps serving', async () => {
    for (const path of ['/hls/../../etc/passwd', '/hls/abc/..%2f..%2fetc/index.m3u8', '/hls/%2e%2e/master.m3u8']) {
      const res = await rawGet(relay.url, path);
      assert.equal(res.status, 400, path);
      assert.equal((JSON.parse(res.body) as { error: { code: string } }).error.code, 'INVALID_PATH');
    }
    assert.equal((await fetch(`${relay.url}/hls/abc/source/index.m3u8`)).status, 200);
  });

  it('refuses a truncated pushed segment with 422 and keeps the stream as it was', async () => {
    const res = await publisher.segment(relay.url, 'abc', 'source', 1, ts.subarray(0, 1000));
    assert.equal(res.status, 422);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'INVALID_SEGMENT');
    assert.doesNotMatch(await (await fetch(`${relay.url}/hls/abc/source/index.m3u8`)).text(), /1\.ts/);
  });

  it('refuses a push without segment metadata with 400', async () => {
    const res = await fetch(`${relay.url}/hls/abc/source/2.ts`, { method: 'PUT', body: ts });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /castnet|duration/i);
  });

  it("serves each segment with its metadata and the publisher's signature, which checks against the bytes", async () => {
    const res = await fetch(`${relay.url}/hls/abc/source/0.ts`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const meta = parseSegmentMetadata(Object.fromEntries(res.headers));
    assert.equal(checkSegmentBytes(publisher.address, { playbackId: 'abc', rendition: 'source', seq: 0 }, meta, bytes, res.headers.get(CONTENT_SIGNATURE_HEADER)), null);
    assert.match(res.headers.get('access-control-expose-headers')!, /castnet-content-signature/);
  });

  it("refuses pushes that are not the stream's publisher's, each with its reason, and counts them", async () => {
    const other = new TestPublisher();
    const unsigned = publisher.headers('abc', 'source', 5, ts);
    delete unsigned[CONTENT_SIGNATURE_HEADER];
    assert.deepEqual(await refusal(await fetch(`${relay.url}/hls/abc/source/5.ts`, { method: 'PUT', headers: unsigned, body: ts })), [401, 'unsigned']);
    assert.deepEqual(await refusal(await other.segment(relay.url, 'abc', 'source', 5, ts)), [401, 'wrong_signer']);
    // Signed for another sequence number, or other bytes: the signature covers both.
    const moved = publisher.headers('abc', 'source', 6, ts);
    assert.deepEqual(await refusal(await fetch(`${relay.url}/hls/abc/source/5.ts`, { method: 'PUT', headers: moved, body: ts })), [401, 'wrong_signer']);
    const tampered = Uint8Array.from(ts);
    tampered[100] = 0x00;
    assert.deepEqual(await refusal(await fetch(`${relay.url}/hls/abc/source/5.ts`, { method: 'PUT', headers: publisher.headers('abc', 'source', 5, ts), body: tampered })), [401, 'wrong_signer']);
    const old = { duration: 2, programDateTime: new Date(Date.now() - 3_600_000).toISOString(), discontinuity: false };
    assert.deepEqual(await refusal(await publisher.segment(relay.url, 'abc', 'source', 5, ts, old)), [400, 'out_of_window']);
    assert.deepEqual(await refusal(await fetch(`${relay.url}/hls/abc`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(descriptor) })), [401, 'signature_missing']);
    assert.deepEqual(await refusal(await other.descriptor(relay.url, 'abc', descriptor)), [401, 'wrong_signer']);
    assert.deepEqual(await refusal(await other.end(relay.url, 'abc')), [401, 'wrong_signer']);
    assert.doesNotMatch(await (await fetch(`${relay.url}/hls/abc/source/index.m3u8`)).text(), /5\.ts|ENDLIST/);
    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    for (const reason of ['unsigned', 'wrong_signer', 'out_of_window', 'signature_missing']) assert.match(metrics, new RegExp(`castnet_relay_content_refused_total\\{from="push",reason="${reason}"[^}]*\\} [1-9]`), reason);
  });

  it('serves the watch page, the embed page and the player bundle', async () => {
    const watch = await fetch(`${relay.url}/watch/abc`);
    assert.match(await watch.text(), /<castnet-player src="\/hls\/abc\/master.m3u8" token-from-url>/);
    const embed = await fetch(`${relay.url}/embed/abc`);
    assert.equal(embed.headers.get('content-security-policy'), 'frame-ancestors *');
    const bundle = await fetch(`${relay.url}/player/castnet-player.js`);
    assert.match(bundle.headers.get('content-type')!, /javascript/);
    assert.match(await bundle.text(), /castnet-player/);
  });
});

describe('relay end of stream', () => {
  let relay: Relay;
  let edge: Relay;

  beforeAll(async () => {
    relay = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false }, { logger: silentLogger });
    await relay.start();
    edge = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, parents: [relay.url] }, { logger: silentLogger });
    await edge.start();
  });

  afterAll(async () => {
    await edge.stop();
    await relay.stop();
  });

  it('ends the media playlists with EXT-X-ENDLIST after POST /hls/:id/end and keeps serving them', async () => {
    await publish(relay.url, 'ending', 2);
    assert.doesNotMatch(await (await fetch(`${relay.url}/hls/ending/source/index.m3u8`)).text(), /ENDLIST/);
    const blocked = fetch(`${relay.url}/hls/ending/source/index.m3u8?_HLS_msn=2`);
    assert.equal((await publisher.end(relay.url, 'ending')).status, 204);
    const answered = await blocked;
    assert.equal(answered.status, 200);
    assert.match(await answered.text(), /1\.ts\n#EXT-X-ENDLIST\n$/);
    assert.match(await (await fetch(`${relay.url}/hls/ending/source/index.m3u8`)).text(), /#EXT-X-ENDLIST\n$/);
    assert.equal((await fetch(`${relay.url}/hls/ending/source/1.ts`)).status, 200);
  });

  it('answers a blocking reload of an ended stream at once, even past the newest segment', async () => {
    await publish(relay.url, 'ended', 1);
    await publisher.end(relay.url, 'ended');
    const res = await fetch(`${relay.url}/hls/ended/source/index.m3u8?_HLS_msn=2`, { signal: AbortSignal.timeout(3_000) });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /#EXT-X-ENDLIST/);
  });

  it('shows the end on an edge that pulls the stream from its parent', async () => {
    await publish(relay.url, 'edged', 1);
    assert.doesNotMatch(await (await fetch(`${edge.url}/hls/edged/source/index.m3u8`)).text(), /ENDLIST/);
    // The edge follows the parent with a blocking reload for the next segment; the end answers it.
    const blocked = fetch(`${edge.url}/hls/edged/source/index.m3u8?_HLS_msn=1`);
    await publisher.end(relay.url, 'edged');
    assert.match(await (await blocked).text(), /0\.ts\n#EXT-X-ENDLIST\n$/);
  });

  it('answers 404 STREAM_NOT_FOUND when ending an unknown stream', async () => {
    const res = await publisher.end(relay.url, 'nosuch');
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'STREAM_NOT_FOUND');
  });
});

describe('relay parent lookup', () => {
  it('answers 502 UPSTREAM_FAILED when the orchestrator cannot be reached', async () => {
    const gone = createServer();
    const orchestrator = await listening(gone);
    await new Promise<void>((resolve) => gone.close(() => resolve()));
    const edge = await createRelay({ httpPort: 0, dataDir: null, orchestrator }, { logger: silentLogger });
    await edge.start();
    try {
      for (const path of ['/hls/lost/master.m3u8', '/hls/lost/source/index.m3u8', '/hls/lost/source/0.ts']) {
        const res = await fetch(`${edge.url}${path}`);
        assert.equal(res.status, 502, path);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'UPSTREAM_FAILED', path);
      }
    } finally {
      await edge.stop();
    }
  });

  it('answers 404 STREAM_NOT_FOUND when the orchestrator knows no such stream', async () => {
    const directory = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'STREAM_NOT_FOUND', message: 'no live stream with this playback id' } }));
    });
    const orchestrator = await listening(directory);
    const edge = await createRelay({ httpPort: 0, dataDir: null, orchestrator }, { logger: silentLogger });
    await edge.start();
    try {
      const res = await fetch(`${edge.url}/hls/lost/master.m3u8`);
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'STREAM_NOT_FOUND');
    } finally {
      await edge.stop();
      await new Promise<void>((resolve) => directory.close(() => resolve()));
    }
  });
});
