// Three relays in a chain over real HTTP on loopback: origin ← edge A ← edge B. Segments are pushed to the
// origin as a broadcaster pushes them; viewers ask the far edge.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createRelay, type Relay } from '../relay/relay.ts';
import { TestPublisher } from './support/signed-content.ts';
import { metric, testLogger, waitFor } from './support/network.ts';

const SEGMENT_BYTES = 188 * 1000;
const segmentBody = (seq: number) => {
  const b = new Uint8Array(SEGMENT_BYTES);
  for (let i = 0; i < SEGMENT_BYTES; i += 188) {
    b[i] = 0x47;
    b[i + 1] = seq & 0xff;
  }
  return b;
};

const publisher = new TestPublisher();

async function push(origin: Relay, playbackId: string, seq: number, rendition = 'source'): Promise<void> {
  const res = await publisher.segment(origin.url, playbackId, rendition, seq, segmentBody(seq));
  assert.equal(res.status, 201);
}

async function relay(parents: string[], extra: Parameters<typeof createRelay>[0] = {}): Promise<Relay> {
  const r = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, parents, ...extra }, { logger: testLogger });
  await r.start();
  return r;
}

describe('relay tiers', () => {
  let origin: Relay;
  let edgeA: Relay;
  let edgeB: Relay;
  const id = 'tiered';

  beforeAll(async () => {
    origin = await relay([]);
    edgeA = await relay([origin.url]);
    edgeB = await relay([edgeA.url]);
    await publisher.descriptor(origin.url, id, { targetDuration: 2, variants: [{ name: 'source', width: 640, height: 360, bandwidth: 1e6, codecs: 'avc1.64001e,mp4a.40.2' }] });
    for (let seq = 0; seq < 3; seq++) await push(origin, id, seq);
  });

  afterAll(async () => {
    await Promise.all([origin, edgeA, edgeB].map((r) => r.stop()));
  });

  it('serves the same playlists and segment bytes at the same URLs on every tier', async () => {
    for (const path of [`/hls/${id}/master.m3u8`, `/hls/${id}/source/index.m3u8`, `/hls/${id}/source/2.ts`]) {
      const bodies = await Promise.all([origin, edgeA, edgeB].map(async (r) => Buffer.from(await (await fetch(`${r.url}${path}`)).arrayBuffer())));
      assert.ok(bodies[1]!.equals(bodies[0]!) && bodies[2]!.equals(bodies[0]!), path);
    }
    const seg = await fetch(`${edgeB.url}/hls/${id}/source/2.ts`);
    assert.equal(seg.headers.get('content-type'), 'video/mp2t');
    assert.match(seg.headers.get('cache-control')!, /immutable/);
    await seg.arrayBuffer();
  });

  it('sends one request upstream for any number of concurrent misses (single flight)', async () => {
    // A stream no edge follows yet, so no prefetch can hide the misses.
    await push(origin, 'flight', 0);
    const kind = /^castnet_relay_upstream_requests_total\{[^}]*kind="segment"/;
    const [beforeA, beforeB] = [await metric(edgeA.url, kind), await metric(edgeB.url, kind)];
    const responses = await Promise.all(Array.from({ length: 50 }, () => fetch(`${edgeB.url}/hls/flight/source/0.ts`).then(async (r) => [r.status, (await r.arrayBuffer()).byteLength])));
    assert.ok(responses.every(([status, size]) => status === 200 && size === SEGMENT_BYTES));
    assert.equal((await metric(edgeB.url, kind)) - beforeB, 1, 'edge B: 50 concurrent misses, one upstream request');
    assert.equal((await metric(edgeA.url, kind)) - beforeA, 1, 'edge A: one request from edge B, one to the origin');
    assert.match(await (await fetch(`${edgeB.url}/metrics`)).text(), /castnet_relay_cache_requests_total\{[^}]*result="hit"[^}]*\} \d+/);
  });

  it('propagates a new segment to the far edge through blocking reloads as soon as the origin has it', async () => {
    const playlist = await (await fetch(`${edgeB.url}/hls/${id}/source/index.m3u8`)).text();
    assert.match(playlist, /#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES/);
    const last = Number(/(\d+)\.ts\s*$/.exec(playlist)![1]);
    // The relay counts a playlist request's viewer as it arrives, before it blocks: a user agent of its own
    // tells when this request is held at edge B, so the push below is timed from a waiting request.
    const viewers = () => metric(edgeB.url, new RegExp(`^castnet_relay_stream_viewers\\{[^}]*playback_id="${id}"`));
    const viewersBefore = await viewers();
    const waiting = fetch(`${edgeB.url}/hls/${id}/source/index.m3u8?_HLS_msn=${last + 1}`, { headers: { 'user-agent': `blocking-reload-${last + 1}` } });
    await waitFor('the blocking request to be held at edge B', async () => (await viewers()) > viewersBefore, 5_000, 20);
    const pushedAt = performance.now();
    await push(origin, id, last + 1);
    const res = await waiting;
    const propagationMs = performance.now() - pushedAt;
    assert.equal(res.status, 200);
    assert.match(await res.text(), new RegExp(`\\n${last + 1}\\.ts`));
    assert.ok(propagationMs < 1_000, `propagated origin → edge A → edge B in ${propagationMs.toFixed(0)} ms`);
    console.log(`# blocking reload propagation through two tiers: ${propagationMs.toFixed(1)} ms`);
  });

  it('answers 400 BAD_REQUEST naming the newest segment for a sequence number far in the future, on every tier, and still serves the playlist', async () => {
    for (const r of [origin, edgeA, edgeB]) {
      const res = await fetch(`${r.url}/hls/${id}/source/index.m3u8?_HLS_msn=100000`);
      assert.equal(res.status, 400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'BAD_REQUEST');
      assert.match(body.error.message, /_HLS_msn 100000 is too far ahead of the newest segment \d+/);
      const playlist = await fetch(`${r.url}/hls/${id}/source/index.m3u8`);
      assert.equal(playlist.status, 200, 'the bad request changed nothing');
      assert.match(await playlist.text(), /\n2\.ts/);
    }
  });

  it('answers Range, HEAD and If-None-Match at the edge without copying', async () => {
    const full = await fetch(`${edgeB.url}/hls/${id}/source/2.ts`);
    const etag = full.headers.get('etag')!;
    await full.arrayBuffer();
    const part = await fetch(`${edgeB.url}/hls/${id}/source/2.ts`, { headers: { range: 'bytes=188-375' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 188-375/${SEGMENT_BYTES}`);
    assert.equal((await part.arrayBuffer()).byteLength, 188);
    assert.equal((await fetch(`${edgeB.url}/hls/${id}/source/2.ts`, { headers: { range: `bytes=${SEGMENT_BYTES}-` } })).status, 416);
    assert.equal((await fetch(`${edgeB.url}/hls/${id}/source/2.ts`, { headers: { 'if-none-match': etag } })).status, 304);
    const head = await fetch(`${edgeB.url}/hls/${id}/source/2.ts`, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), String(SEGMENT_BYTES));
  });

  it('keeps its pulled segments within the byte budget, evicting the least recently used first', async () => {
    // A stream of its own, four segments long, so that a two-segment budget must evict two.
    for (let seq = 0; seq <= 3; seq++) await push(origin, 'budget', seq);
    const small = await relay([origin.url], { cacheBytes: SEGMENT_BYTES * 2 });
    const lookups = (result: string) => metric(small.url, new RegExp(`^castnet_relay_cache_requests_total\\{[^}]*result="${result}"`));
    try {
      for (let seq = 0; seq <= 3; seq++) assert.equal((await (await fetch(`${small.url}/hls/budget/source/${seq}.ts`)).arrayBuffer()).byteLength, SEGMENT_BYTES, `segment ${seq}`);
      assert.ok(small.cache.bytesHeld <= SEGMENT_BYTES * 2, `holds ${small.cache.bytesHeld} bytes`);
      assert.equal(small.cache.evictions, 2);
      const [hits, misses] = [await lookups('hit'), await lookups('miss')];
      await (await fetch(`${small.url}/hls/budget/source/3.ts`)).arrayBuffer();
      assert.equal(await lookups('hit'), hits + 1, 'the newest segment was kept');
      // An evicted segment is pulled again on demand.
      assert.equal((await fetch(`${small.url}/hls/budget/source/0.ts`)).status, 200);
      assert.equal(await lookups('miss'), misses + 1, 'the oldest segment was evicted');
    } finally {
      await small.stop();
    }
  });

  it('fails waiters with 502 saying the parent is unreachable (without its address), caches nothing, and recovers when it returns', async () => {
    const parent = await relay([origin.url]);
    const parentUrl = parent.url;
    const port = Number(new URL(parentUrl).port);
    const edge = await relay([parent.url]);
    try {
      await parent.stop();
      const results = await Promise.all(Array.from({ length: 5 }, () => fetch(`${edge.url}/hls/${id}/source/2.ts`)));
      for (const res of results) {
        assert.equal(res.status, 502);
        const body = (await res.json()) as { error: { code: string; message: string } };
        assert.equal(body.error.code, 'UPSTREAM_FAILED');
        // What went wrong, not where: a viewer learns nothing of the relays behind this one (issue 11).
        assert.match(body.error.message, /parent \(another node\) is unreachable: connect ECONNREFUSED/);
        assert.ok(!JSON.stringify(body).includes(new URL(parentUrl).host), JSON.stringify(body));
      }
      const back = await relay([origin.url], { httpPort: port });
      try {
        const res = await fetch(`${edge.url}/hls/${id}/source/2.ts`);
        assert.equal(res.status, 200, 'the failure was not cached');
        await res.arrayBuffer();
      } finally {
        await back.stop();
      }
    } finally {
      await edge.stop();
    }
  });

  it('reports per-stream viewers, bytes served, hit ratio and upstream bytes', async () => {
    for (const ua of ['viewer-1', 'viewer-2', 'viewer-3']) await (await fetch(`${edgeB.url}/hls/${id}/source/index.m3u8`, { headers: { 'user-agent': ua } })).text();
    // Segment 1 is one no other case asks edge B for: pulled on the first request (a miss), served from memory on the second.
    for (let i = 0; i < 2; i++) await (await fetch(`${edgeB.url}/hls/${id}/source/1.ts`, { headers: { 'user-agent': 'viewer-1' } })).arrayBuffer();
    const text = await (await fetch(`${edgeB.url}/metrics`)).text();
    assert.match(text, new RegExp(`castnet_relay_stream_viewers\\{[^}]*playback_id="${id}"[^}]*\\} [3-9]`));
    assert.match(text, new RegExp(`castnet_relay_stream_bytes_served\\{[^}]*playback_id="${id}"[^}]*\\} [1-9]`));
    assert.match(text, new RegExp(`castnet_relay_stream_cache_hit_ratio\\{[^}]*playback_id="${id}"[^}]*\\} 0\\.\\d+`));
    assert.match(text, new RegExp(`castnet_relay_stream_upstream_bytes\\{[^}]*playback_id="${id}"[^}]*\\} [1-9]`));
  });
});
