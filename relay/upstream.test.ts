// The edge's upstream against a real parent relay in process: following a playlist with blocking
// reloads, prefetching each new segment once, copying the end of a stream, and parent failover.

import assert from 'node:assert/strict';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '../observability/logger.ts';
import { TestPublisher } from '../test/support/signed-content.ts';
import { createRelay, type Relay } from './relay.ts';
import { SegmentCache } from './segment-cache.ts';
import { Upstream } from './upstream.ts';
import { ContentCheck } from './content-check.ts';
import { PublisherKeys } from './publisher-keys.ts';

const ts = new Uint8Array(188 * 10).fill(0x47);
const descriptor = { targetDuration: 1, variants: [{ name: 'source', width: 640, height: 360, bandwidth: 1e6, codecs: 'avc1.64001e,mp4a.40.2' }] };

/** The global fetch, recording each request's path and query, and telling a waiter when a path is asked for. */
function recordingFetch() {
  const requests: string[] = [];
  const waiting: Array<{ pattern: RegExp; resolve: () => void }> = [];
  const fetchFn: typeof fetch = (input, init) => {
    const url = new URL(String(input));
    const path = `${url.pathname}${url.search}`;
    requests.push(path);
    for (const w of waiting.filter((x) => x.pattern.test(path))) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve();
    }
    return fetch(input, init);
  };
  return {
    fetch: fetchFn,
    requests,
    count: (pattern: RegExp) => requests.filter((p) => pattern.test(p)).length,
    /** Resolves when a request matching `pattern` is made (or was made already). */
    requested: (pattern: RegExp) =>
      requests.some((p) => pattern.test(p)) ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ pattern, resolve })),
  };
}

describe('upstream', () => {
  let parent: Relay;
  const upstreams: Upstream[] = [];

  const publisher = new TestPublisher();

  async function push(playbackId: string, seq: number): Promise<void> {
    assert.equal((await publisher.segment(parent.url, playbackId, 'source', seq, ts, publisher.meta(1))).status, 201);
  }

  async function publish(playbackId: string, segments: number): Promise<void> {
    await publisher.descriptor(parent.url, playbackId, descriptor);
    for (let seq = 0; seq < segments; seq++) await push(playbackId, seq);
  }

  const refusals: string[] = [];

  function upstream(parents: string[], fetchFn: typeof fetch): Upstream {
    const content = new ContentCheck({ keys: new PublisherKeys({ lookup: async () => publisher.address }), onRefused: (from, reason) => refusals.push(`${from}:${reason}`) });
    const u = new Upstream({ parentsFor: async () => parents, fetch: fetchFn, cache: new SegmentCache(1e7), idleMs: 60_000, logger: silentLogger, verifySegment: (at, h, b) => content.pulled(at, h, b) });
    upstreams.push(u);
    return u;
  }

  beforeAll(async () => {
    parent = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false }, { logger: silentLogger });
    await parent.start();
  });

  afterEach(() => {
    for (const u of upstreams.splice(0)) u.close();
  });

  afterAll(() => parent.stop());

  it('follows the parent playlist with a blocking reload for the next segment', async () => {
    await publish('follow', 1);
    const rec = recordingFetch();
    const u = upstream([parent.url], rec.fetch);
    assert.match((await u.mediaPlaylist('follow', 'source')).toString(), /0\.ts\n$/);
    await rec.requested(/index\.m3u8\?_HLS_msn=1$/);
    const next = u.mediaPlaylist('follow', 'source', 1);
    await push('follow', 1);
    assert.match((await next).toString(), /0\.ts\n.*\n.*\n1\.ts\n$/);
  });

  it('prefetches each new segment once, before any viewer asks for it', async () => {
    await publish('prefetch', 1);
    const rec = recordingFetch();
    const u = upstream([parent.url], rec.fetch);
    await u.mediaPlaylist('prefetch', 'source');
    await rec.requested(/index\.m3u8\?_HLS_msn=1$/);
    await push('prefetch', 1);
    await rec.requested(/\/1\.ts$/);
    const first = await u.segment('prefetch', 'source', 1);
    assert.equal(first.segment.bytes.length, ts.length);
    assert.equal((await u.segment('prefetch', 'source', 1)).hit, true);
    assert.equal(rec.count(/\/1\.ts$/), 1, 'one pull from the parent for the prefetch and every viewer');
    assert.equal(rec.count(/\/0\.ts$/), 0, 'segments listed before following began are not prefetched');
  });

  it('pulls a segment once for concurrent viewers and serves it from the cache afterwards', async () => {
    await publish('flight', 1);
    const rec = recordingFetch();
    const u = upstream([parent.url], rec.fetch);
    const all = await Promise.all([u.segment('flight', 'source', 0), u.segment('flight', 'source', 0), u.segment('flight', 'source', 0)]);
    assert.deepEqual(all.map((x) => x.hit), [false, false, false]);
    assert.equal((await u.segment('flight', 'source', 0)).hit, true);
    assert.equal(rec.count(/\/0\.ts$/), 1);
  });

  it('copies the end of the stream from the parent and answers blocking reloads at once after it', async () => {
    await publish('ends', 1);
    const rec = recordingFetch();
    const u = upstream([parent.url], rec.fetch);
    await u.mediaPlaylist('ends', 'source');
    await rec.requested(/index\.m3u8\?_HLS_msn=1$/);
    const waiting = u.mediaPlaylist('ends', 'source', 1);
    assert.equal((await publisher.end(parent.url, 'ends')).status, 204);
    assert.match((await waiting).toString(), /0\.ts\n#EXT-X-ENDLIST\n$/);
    assert.match((await u.mediaPlaylist('ends', 'source', 2)).toString(), /#EXT-X-ENDLIST\n$/);
  });

  it('tries the next parent when one cannot be reached, and reports 404 from a parent as final', async () => {
    await publish('failover', 1);
    const rec = recordingFetch();
    const refusing: typeof fetch = (input, init) => (String(input).startsWith('http://unreachable.invalid') ? Promise.reject(new TypeError('fetch failed')) : rec.fetch(input, init));
    const u = upstream(['http://unreachable.invalid', parent.url], refusing);
    assert.equal((await u.segment('failover', 'source', 0)).segment.bytes.length, ts.length);
    await assert.rejects(u.segment('missing', 'source', 0), { code: 'STREAM_NOT_FOUND' });
    const down = upstream(['http://unreachable.invalid'], refusing);
    await assert.rejects(down.segment('failover', 'source', 0), { code: 'UPSTREAM_FAILED' });
  });

  it("refuses a parent's segment that its publisher did not sign, takes it from the next parent, and asks that parent first afterwards", async () => {
    await publish('forged', 2);
    const rec = recordingFetch();
    // The forger relays the honest parent's answers with other bytes (an injected segment), or without the signature.
    const forging: typeof fetch = async (input, init) => {
      const url = String(input);
      if (!url.startsWith('http://forger.test')) return rec.fetch(input, init);
      rec.requests.push(`forger:${new URL(url).pathname}`);
      const real = await fetch(url.replace('http://forger.test', parent.url), init);
      const headers = new Headers(real.headers);
      if (url.endsWith('/1.ts')) {
        headers.delete('castnet-content-signature');
        return new Response(await real.arrayBuffer(), { status: 200, headers });
      }
      const bytes = new Uint8Array(await real.arrayBuffer());
      bytes[500] = 0x00;
      headers.delete('content-length');
      return new Response(bytes, { status: 200, headers });
    };
    refusals.length = 0;
    const u = upstream(['http://forger.test', parent.url], forging);
    const pulled = await u.segment('forged', 'source', 0);
    assert.deepEqual(new Uint8Array(pulled.segment.bytes), ts, 'the honest bytes');
    assert.match(pulled.segment.headers['castnet-content-signature']!, /^0x[0-9a-f]{130}$/);
    assert.deepEqual(refusals, ['parent:wrong_signer']);
    await u.segment('forged', 'source', 1);
    assert.deepEqual(rec.requests.filter((r) => r.endsWith('/1.ts')), ['/hls/forged/source/1.ts'], 'the forger is asked last once it sent a forgery');
    const alone = upstream(['http://forger.test'], forging);
    await assert.rejects(alone.segment('forged', 'source', 1), (err: Error & { code?: string; context?: { reason?: string } }) => err.code === 'UPSTREAM_FAILED' && err.context?.reason === 'unsigned');
  });

  it("refuses a parent's playlist that jumps far ahead of the one followed, and follows the next parent", async () => {
    await publish('jump', 1);
    const rec = recordingFetch();
    let playlists = 0;
    const jumping: typeof fetch = async (input, init) => {
      const url = String(input);
      if (!url.startsWith('http://jumper.test')) return rec.fetch(input, init);
      const real = await fetch(url.replace('http://jumper.test', parent.url), init);
      if (!url.includes('index.m3u8') || playlists++ === 0) return real;
      await real.arrayBuffer();
      return new Response('#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:999999999\n#EXTINF:1.000,\n999999999.ts\n', { status: 200 });
    };
    const u = upstream(['http://jumper.test', parent.url], jumping);
    assert.match((await u.mediaPlaylist('jump', 'source')).toString(), /0\.ts\n$/);
    const next = u.mediaPlaylist('jump', 'source', 1);
    await push('jump', 1);
    const text = (await next).toString();
    assert.match(text, /1\.ts\n$/);
    assert.doesNotMatch(text, /999999999/);
  });
});

describe('upstream against a parent that never stops sending', () => {
  let server: Server;
  let base = '';
  const cache = new SegmentCache(1e7);
  let u: Upstream;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const kind = req.url!.endsWith('.ts') ? 'video/mp2t' : 'application/vnd.apple.mpegurl';
      res.writeHead(200, { 'content-type': kind });
      const chunk = Buffer.from(kind === 'video/mp2t' ? Buffer.alloc(64 * 1024, 0x47) : `#EXTM3U\n${'#EXT-X-PADDING:x\n'.repeat(4_000)}`);
      let bytes = 0;
      const pump = () => {
        while (!res.destroyed && bytes < 1_000_000_000 && res.write(chunk)) bytes += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    u = new Upstream({ parentsFor: async () => [base], cache, idleMs: 60_000, logger: silentLogger, maxSegmentBytes: 4 * 1024 * 1024, verifySegment: async () => ({}) });
  });

  afterAll(async () => {
    u.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('gives up on an endless playlist at 1 MiB and answers 502', async () => {
    await assert.rejects(u.mediaPlaylist('endless', 'source'), { code: 'UPSTREAM_FAILED', message: /exceeds the limit of 1048576 bytes/ });
    await assert.rejects(u.master('endless'), { code: 'UPSTREAM_FAILED' });
  });

  it('gives up on an endless segment at the segment cap, and caches nothing', async () => {
    await assert.rejects(u.segment('endless', 'source', 0), { code: 'UPSTREAM_FAILED', message: /exceeds the limit of 4194304 bytes/ });
    assert.equal(cache.size, 0);
    assert.equal(cache.bytesHeld, 0);
  });
});
