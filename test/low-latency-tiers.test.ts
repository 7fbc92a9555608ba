// Low-latency HLS through relay tiers on a real network: an FFmpeg publisher over RTMP, the broadcaster's
// CMAF parts at the origin, edge 1 following the origin and edge 2 following edge 1 part by part. Every
// playlist an edge serves passes the independent parser's strict checks; part and init bytes are the same on
// every tier; a parent that tampers with a part is refused; N viewers waiting on the hinted part at an edge
// are one request upstream.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createRelay, type Relay } from '../relay/relay.ts';
import { getText, metric, publish, startNetwork, testLogger, waitFor, type Publisher, type TestNetwork } from './support/network.ts';
import { checkFollowedSegments, checkLlPlaylist, followLlSegments } from './support/ll-conformance.ts';
import { startParentProxy, type ParentProxy } from './support/parent-proxy.ts';
import { launchChromium, samplePlayer, type PlaybackSample } from './support/browser.ts';

const PART = /^(\d+)\.(\d+)\.m4s$/;

async function edgeOf(net: TestNetwork, parents: string[]): Promise<Relay> {
  const r = await createRelay({ httpPort: 0, dataDir: null, orchestrator: net.orchestrator.url, allowPrivateNodes: true, edge: true, discoverParents: false, parents }, { logger: testLogger });
  await r.start();
  return r;
}

async function bytes(url: string): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

function hintOf(text: string): { seq: number; part: number } {
  const m = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(\d+)\.(\d+)\.m4s"/.exec(text);
  assert.ok(m, `a preload hint in\n${text}`);
  return { seq: Number(m[1]), part: Number(m[2]) };
}

describe('low-latency HLS through relay tiers', () => {
  let net: TestNetwork;
  let publisher: Publisher;
  let playbackId: string;
  let edge1: Relay;
  let edge2: Relay;
  const proxies: ParentProxy[] = [];
  const extra: Relay[] = [];
  const path = () => `/hls/${playbackId}/source`;

  beforeAll(async () => {
    net = await startNetwork({ lowLatency: true, partTarget: 0.334 });
    publisher = publish(`${net.broadcaster.rtmpUrl}/ll-tiers`);
    playbackId = net.broadcaster.keys.resolve('ll-tiers')!;
    await waitFor('two complete CMAF segments at the origin', async () => {
      const r = await getText(`${net.relay.url}${path()}/index.m3u8`);
      return r.status === 200 && (r.text.match(/^\d+\.m4s$/gm) ?? []).length >= 2;
    }, 40_000);
    // The edges re-serve what the origin lists: wait out the stream's start, where the origin's own playlist
    // may not pass yet (see the note of issue 12), so what is checked below is the edges' serving.
    await waitFor("the origin's playlist passing strict conformance", async () => {
      try {
        checkLlPlaylist((await getText(`${net.relay.url}${path()}/index.m3u8`)).text);
        return true;
      } catch {
        return undefined;
      }
    }, 30_000, 250);
    edge1 = await edgeOf(net, [net.relay.url]);
    edge2 = await edgeOf(net, [edge1.url]);
  }, 100_000);

  afterAll(async () => {
    await publisher?.stop();
    await Promise.all([edge2?.stop(), edge1?.stop(), ...extra.map((r) => r.stop()), ...proxies.map((p) => p.close())]);
    await net?.close();
  });

  it('serves LL playlists at edge 2 that pass strict conformance across blocking reloads, with delta updates', async () => {
    let last = checkLlPlaylist((await getText(`${edge2.url}${path()}/index.m3u8`)).text);
    for (let i = 0; i < 10; i++) {
      const hint = hintOf((await getText(`${edge2.url}${path()}/index.m3u8`)).text);
      const started = performance.now();
      const r = await getText(`${edge2.url}${path()}/index.m3u8?_HLS_msn=${hint.seq}&_HLS_part=${hint.part}`);
      assert.equal(r.status, 200, r.text);
      assert.ok(performance.now() - started < 3_000, 'a blocking reload at the edge returns within a part or two');
      const next = checkLlPlaylist(r.text);
      assert.equal(next.partTarget, last.partTarget, 'PART-TARGET never changes');
      assert.equal(next.partHoldBack, last.partHoldBack, 'PART-HOLD-BACK never changes');
      assert.ok(next.first >= last.first, 'the media sequence never goes back');
      const held = next.playlist.segments.find((s) => s.mediaSequenceNumber === hint.seq);
      assert.ok(held && (held.uri || held.parts.filter((p) => !p.hint).length > hint.part), `segment ${hint.seq} part ${hint.part} is listed once the reload returns`);
      last = next;
    }
    // Far ahead and malformed are refused at the edge as at the origin.
    assert.equal((await getText(`${edge2.url}${path()}/index.m3u8?_HLS_msn=999999&_HLS_part=0`)).status, 400);
    assert.equal((await getText(`${edge2.url}${path()}/index.m3u8?_HLS_msn=1&_HLS_part=-1`)).status, 400);
  }, 60_000);

  it('lists every segment at edge 2 with parts that add up to its EXTINF and none above PART-TARGET, followed part by part', async () => {
    const errors: string[] = [];
    const seen = await followLlSegments(`${edge2.url}${path()}/index.m3u8`, (s) => s.size >= 3, 30_000, (text) => {
      try {
        checkLlPlaylist(text);
      } catch (err) {
        errors.push((err as Error).message);
      }
    });
    checkFollowedSegments(seen, Math.min(...seen.keys()), 0.334, 1 / 30);
    assert.deepEqual(errors, []);
  }, 40_000);

  it('serves the same part and init bytes, with the publisher signature, on every tier', async () => {
    const text = (await getText(`${edge2.url}${path()}/index.m3u8`)).text;
    const parts = text.split('\n').flatMap((l) => /#EXT-X-PART:.*URI="([^"]+)"/.exec(l)?.[1] ?? []).slice(-6);
    const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(text)![1]!;
    assert.ok(parts.length >= 3);
    for (const name of [...parts, init]) {
      assert.ok(PART.test(name) || name.startsWith('init-'));
      const [o, e1, e2] = await Promise.all([net.relay.url, edge1.url, edge2.url].map((u) => bytes(`${u}${path()}/${name}`)));
      assert.equal(o!.status, 200);
      assert.ok(e1!.body.equals(o!.body) && e2!.body.equals(o!.body), `${name} is the origin's bytes on both edges`);
      assert.equal(e2!.headers.get('castnet-content-signature'), o!.headers.get('castnet-content-signature'));
      assert.match(e2!.headers.get('cache-control')!, /immutable/);
      assert.equal(e2!.headers.get('content-type'), 'video/mp4');
    }
  }, 30_000);

  it('refuses a part a malicious parent tampered with, and takes it from the honest parent', async () => {
    const evil = await startParentProxy(net.relay.url, (p, body) => {
      if (!PART.test(p.split('/').pop()!)) return body;
      const copy = Buffer.from(body);
      copy[copy.length - 1]! ^= 0xff;
      return copy;
    });
    proxies.push(evil);
    const only = await edgeOf(net, [evil.url]);
    const both = await edgeOf(net, [evil.url, net.relay.url]);
    extra.push(only, both);
    const text = (await getText(`${net.relay.url}${path()}/index.m3u8`)).text;
    const name = text.split('\n').flatMap((l) => /#EXT-X-PART:.*URI="([^"]+)"/.exec(l)?.[1] ?? []).at(-1)!;
    const honest = await bytes(`${net.relay.url}${path()}/${name}`);
    const refused = await bytes(`${only.url}${path()}/${name}`);
    assert.equal(refused.status, 502, 'an edge whose only parent tampers serves nothing');
    assert.match(refused.body.toString(), /publisher did not sign|signature/);
    const served = await bytes(`${both.url}${path()}/${name}`);
    assert.equal(served.status, 200);
    assert.ok(served.body.equals(honest.body), 'the honest parent\'s bytes');
    assert.ok(await metric(only.url, /^castnet_relay_content_refused_total\{.*from="parent"/) >= 1);
  }, 30_000);

  it('asks its parent once for the hinted part however many viewers wait on it', async () => {
    const counter = await startParentProxy(edge1.url);
    proxies.push(counter);
    const edge = await edgeOf(net, [counter.url]);
    extra.push(edge);
    // Following first, so the hint is the edge's own.
    checkLlPlaylist((await getText(`${edge.url}${path()}/index.m3u8`)).text);
    const hint = hintOf((await getText(`${edge.url}${path()}/index.m3u8`)).text);
    const name = `${hint.seq}.${hint.part}.m4s`;
    const viewers = await Promise.all(Array.from({ length: 25 }, () => bytes(`${edge.url}${path()}/${name}`)));
    for (const v of viewers) assert.equal(v.status, 200);
    assert.ok(viewers.every((v) => v.body.equals(viewers[0]!.body)));
    assert.equal(counter.requests.get(`${path()}/${name}`), 1, '25 viewers waiting on the hinted part: 1 request upstream');
    const again = await bytes(`${edge.url}${path()}/${name}`);
    assert.equal(again.status, 200);
    assert.equal(counter.requests.get(`${path()}/${name}`), 1, 'a complete part is served from the cache');
  }, 30_000);

  it('answers _HLS_skip=YES at edge 2 with a delta update whose lines are the tail of the full playlist', async () => {
    await waitFor('a playlist long enough to skip', async () => {
      const r = await getText(`${edge2.url}${path()}/index.m3u8`);
      return (r.text.match(/^#EXTINF:([\d.]+)/gm) ?? []).reduce((t, l) => t + Number(l.slice(8)), 0) > 13 || undefined;
    }, 40_000);
    const hint = hintOf((await getText(`${edge2.url}${path()}/index.m3u8`)).text);
    // Both held on the same part, so both are written from the same state.
    const q = `_HLS_msn=${hint.seq}&_HLS_part=${hint.part}`;
    const [full, delta] = await Promise.all([getText(`${edge2.url}${path()}/index.m3u8?${q}`), getText(`${edge2.url}${path()}/index.m3u8?${q}&_HLS_skip=YES`)]);
    checkLlPlaylist(full.text);
    assert.match(delta.text, /#EXT-X-SKIP:SKIPPED-SEGMENTS=[1-9]\d*/);
    const body = (t: string) => t.split('\n').slice(t.split('\n').findIndex((l) => l.startsWith('#EXT-X-PART-INF')) + 1).filter((l) => !l.startsWith('#EXT-X-SKIP') && !l.startsWith('#EXT-X-MAP'));
    const fullBody = body(full.text);
    const deltaBody = body(delta.text);
    assert.deepEqual(fullBody.slice(-deltaBody.length), deltaBody, 'the delta update keeps the full playlist\'s newest lines');
  }, 60_000);

  it('plays the LL source rendition in Chromium through edge 2 with every part and init verified', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${edge2.url}/watch/${playbackId}`);
      // The source rendition's LL playlist on edge 2 (the master also lists the MPEG-TS renditions).
      await page.evaluate(`document.querySelector('castnet-player').setAttribute('src', ${JSON.stringify(`${edge2.url}${path()}/index.m3u8`)})`);
      type Sample = PlaybackSample & { verification: PlaybackSample['verification'] & { verifiedParts: Record<string, string[]>; verifiedInits: number } };
      let sample: Sample | null = null;
      await waitFor('LL playback at edge 2', async () => ((((await page.evaluate(samplePlayer)) as Sample | null)?.currentTime ?? 0) > 1) || undefined, 40_000, 200);
      // The player's own latency settings start a few segments behind (whole segments); parts are what it loads
      // within PART-HOLD-BACK of the live edge, so the test seeks there.
      await page.evaluate(`(() => { const v = document.querySelector('castnet-player').video; v.currentTime = v.seekable.end(v.seekable.length - 1) - 1.2; })()`);
      await waitFor('parts played at the live edge', async () => {
        sample = (await page.evaluate(samplePlayer)) as Sample | null;
        return ((sample?.verification?.verifiedParts.source ?? []).length >= 3 && (sample?.currentTime ?? 0) > 3) || undefined;
      }, 30_000, 200).catch((err: Error) => {
        throw new Error(`${err.message}; the player: ${JSON.stringify(sample)}`);
      });
      const s = sample as unknown as Sample;
      assert.equal(s.mediaError, null);
      assert.ok(s.verification, 'the player checked what it played');
      assert.equal(s.verification.refused, 0, JSON.stringify(s.verification.refusals));
      assert.equal(s.verification.publisherSource, 'directory');
      assert.ok(s.verification.verifiedInits >= 1, 'the init segment was verified');
      assert.ok((s.verification.verifiedParts.source ?? []).length >= 3, `parts were loaded and verified: ${JSON.stringify(s.verification)}`);
    } finally {
      await browser.close();
    }
  }, 90_000);
});
