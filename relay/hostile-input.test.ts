// A relay over real HTTP against the attacks of issue 11: a descriptor that injects a playlist line, 404
// spam that would grow the stats a heartbeat carries, and a push far ahead of the window.

import { MAX_TARGET_DURATION_SECONDS } from '../protocol/stream-record.ts';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { silentLogger } from '../observability/logger.ts';
import { TestPublisher } from '../test/support/signed-content.ts';
import { createRelay, type Relay } from './relay.ts';

const ts = new Uint8Array(188 * 10).fill(0x47);
const descriptor = { targetDuration: 2, variants: [{ name: 'source', width: 640, height: 360, bandwidth: 1e6, codecs: 'avc1.64001e,mp4a.40.2' }] };
const publisher = new TestPublisher();

const putDescriptor = (url: string, id: string, body: unknown) => publisher.descriptor(url, id, body);
const putSegment = (url: string, id: string, seq: number, duration = 2) => publisher.segment(url, id, 'source', seq, ts, publisher.meta(duration));

/** `count` GETs, `parallel` at a time, each answered and its body read. */
async function spam(count: number, parallel: number, path: (i: number) => string, base: string): Promise<Set<number>> {
  const statuses = new Set<number>();
  for (let i = 0; i < count; i += parallel) {
    await Promise.all(Array.from({ length: Math.min(parallel, count - i) }, async (_, j) => {
      const res = await fetch(`${base}${path(i + j)}`);
      await res.arrayBuffer();
      statuses.add(res.status);
    }));
  }
  return statuses;
}

describe('relay against hostile input', () => {
  let origin: Relay;
  let edge: Relay;

  beforeAll(async () => {
    origin = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false }, { logger: silentLogger });
    await origin.start();
    edge = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, parents: [origin.url] }, { logger: silentLogger });
    await edge.start();
  });

  afterAll(async () => {
    await edge?.stop();
    await origin?.stop();
  });

  it('refuses a descriptor whose codecs would inject a variant into the master playlist, with 400 and why', async () => {
    const codecs = 'avc1.64001e"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttps://attacker.example/evil.m3u8\n#"';
    const res = await putDescriptor(origin.url, 'inject', { ...descriptor, variants: [{ ...descriptor.variants[0], codecs }] });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'BAD_REQUEST');
    assert.match(body.error.message, /RFC 6381/);
    assert.equal(origin.store.has('inject'), false);
  });

  it('keeps no stats for 3,000 requests for streams that do not exist, at an origin or an edge', async () => {
    const paths = [(i: number) => `/hls/ghost${i}/master.m3u8`, (i: number) => `/hls/ghost${i}/source/index.m3u8`, (i: number) => `/hls/ghost${i}/source/0.ts`];
    assert.deepEqual(await spam(3_000, 50, (i) => paths[i % 3]!(i), origin.url), new Set([404]));
    assert.deepEqual(origin.stats.snapshot(), []);
    assert.deepEqual(await spam(300, 50, (i) => paths[i % 3]!(i), edge.url), new Set([404]));
    assert.deepEqual(edge.stats.snapshot(), []);
  });

  it('refuses a push far ahead of the window, changes nothing, and counts it by reason', async () => {
    assert.equal((await putDescriptor(origin.url, 'live', descriptor)).status, 204);
    for (let seq = 0; seq < 3; seq++) assert.equal((await putSegment(origin.url, 'live', seq)).status, 201);
    const before = await (await fetch(`${origin.url}/hls/live/source/index.m3u8`)).text();
    const res = await putSegment(origin.url, 'live', 999_999_999_999, 30);
    assert.equal(res.status, 400);
    const refusal = (await res.json()) as { error: { message: string; reason: string } };
    assert.equal(refusal.error.reason, 'seq_ahead', JSON.stringify(refusal));
    assert.equal(await (await fetch(`${origin.url}/hls/live/source/index.m3u8`)).text(), before);
    assert.match(before, /#EXT-X-TARGETDURATION:2\n/);
    assert.equal((await putSegment(origin.url, 'live', 3)).status, 201, 'the broadcaster goes on');
    assert.match(await (await fetch(`${origin.url}/metrics`)).text(), /castnet_relay_refused_total\{reason="seq_ahead"[^}]*\} 1\n/);
  });

  it('refuses a segment for a rendition name no playlist could list, and stores nothing', async () => {
    const name = 'r'.repeat(33);
    const res = await publisher.segment(origin.url, 'longname', name, 0, ts);
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'INVALID_PATH');
    assert.equal(origin.store.has('longname'), false);
  });

  it('refuses a segment longer than the longest target duration', async () => {
    assert.equal((await putSegment(origin.url, 'long', 0, MAX_TARGET_DURATION_SECONDS + 1)).status, 400);
  });

  it('refuses a segment push whose content-length passes --max-segment-bytes before reading it, and cuts off stalled uploads', async () => {
    const relay = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false, maxSegmentBytes: 4_096, httpUploadIdleMs: 300 }, { logger: silentLogger });
    await relay.start();
    try {
      const port = Number(new URL(relay.url).port);
      const raw = (request: string) =>
        new Promise<string>((resolve) => {
          const socket = connect(port, '127.0.0.1');
          let answer = '';
          socket.on('data', (d) => (answer += d.toString('latin1')));
          socket.on('error', () => {});
          socket.on('close', () => resolve(answer));
          socket.write(request);
        });
      const meta = Object.entries(publisher.headers('big', 'source', 0, ts)).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      // Only the headers of a 64 MiB body: the answer comes without the body being sent.
      const big = await raw(`PUT /hls/big/source/0.ts HTTP/1.1\r\nhost: x\r\n${meta}content-length: 67108864\r\n\r\n`);
      assert.match(big, /^HTTP\/1\.1 413/);
      assert.match(big, /PAYLOAD_TOO_LARGE/);
      // A body that stops after a few bytes: closed after the idle limit, nothing stored.
      const stalled = await raw(`PUT /hls/stalled/source/0.ts HTTP/1.1\r\nhost: x\r\n${meta}content-length: 4000\r\n\r\n${'G'.repeat(188)}`);
      assert.match(stalled, /^HTTP\/1\.1 408/);
      assert.equal(relay.store.size, 0);
      const metrics = await (await fetch(`${relay.url}/metrics`)).text();
      assert.match(metrics, /castnet_relay_http_refused_total\{reason="body_too_large"[^}]*\} 1\n/);
      assert.match(metrics, /castnet_relay_http_refused_total\{reason="upload_stalled"[^}]*\} 1\n/);
    } finally {
      await relay.stop();
    }
  });

  it("answers a viewer whose stream's parent is down without naming the parent", async () => {
    const orphan = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, parents: ['http://127.0.0.1:9'] }, { logger: silentLogger });
    await orphan.start();
    try {
      const res = await fetch(`${orphan.url}/hls/some-stream/source/index.m3u8`);
      assert.ok(res.status >= 500, String(res.status));
      const body = await res.text();
      assert.doesNotMatch(body, /127\.0\.0\.1:9\b/, body);
    } finally {
      await orphan.stop();
    }
  });
});
