// The pipeline's hard logic against real HTTP: fake transcoders and a fake relay on 127.0.0.1:0 speaking
// the wire format of transcoder/transcoder.ts (multipart answers, 402 bodies), a real StreamSession over an
// in-memory orchestrator, a real PaymentSender, and a manual clock for deadlines and rate limits. Segment
// fixtures are made by FFmpeg at test time.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { ffmpegBinaries } from '../media/ffmpeg-binaries.ts';
import { probeTs } from '../media/ts-probe.ts';
import { identityFromPrivateKey } from '../protocol/identity.ts';
import { encodeMultipart, newBoundary } from '../protocol/multipart.ts';
import { PAYMENT_HEADER } from '../protocol/payment.ts';
import { TicketParamsIssuer, ticketParamsToJson } from '../protocol/ticket-params.ts';
import { MAX_WIN_PROB } from '../protocol/ticket.ts';
import { TRANSCODE_HEADERS } from '../protocol/transcode-request.ts';
import { RENDITION_LAG_SEGMENTS } from '../protocol/segment-metadata.ts';
import { InMemoryOrchestrator } from './in-memory-orchestrator.ts';
import { ManualTimers } from './manual-timers.ts';
import { PaymentSender } from './payment-sender.ts';
import { StreamPipeline, durationsMs, type StreamPipelineEvents } from './stream-pipeline.ts';
import { StreamSession } from './stream-session.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'castnet-pipeline-'));
/** The one rung of the test ladder: a 320x240 source gives a 160x120 rendition named `120p`. */
const LADDER = [{ height: 120, fps: 30, videoBitrate: 200_000, audioBitrate: 64_000 }];
let source: Buffer;
let rendition: Buffer;
let source444: Buffer;

async function segment(name: string, size: string, pixFmt = 'yuv420p'): Promise<Buffer> {
  const file = join(dir, `${name}.ts`);
  await run(ffmpegBinaries().ffmpeg, [
    '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc=size=${size}:rate=30`, '-f', 'lavfi', '-i', 'sine=sample_rate=48000',
    '-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', pixFmt, '-c:a', 'aac', '-f', 'mpegts', file,
  ]);
  return readFileSync(file);
}

type Behaviour = 'ok' | 'hang' | 'error' | { status: 402; reason: string };

interface Received {
  seq: number;
  payment: string | undefined;
  /** Resolves when the broadcaster hung up before the answer (an abort). */
  aborted: Promise<void>;
}

/** A transcoder on 127.0.0.1:0 that answers each request as `behave(n)` says (n counts from 0). */
class FakeTranscoder {
  readonly received: Received[] = [];
  private readonly server: Server;
  private readonly behave: (n: number) => Behaviour;
  private readonly waiters: Array<() => void> = [];
  url = '';

  constructor(behave: (n: number) => Behaviour) {
    this.behave = behave;
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Resolves once `count` requests have arrived. */
  requests(count: number): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(() => this.received.length >= count && resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for await (const _ of req);
    const aborted = new Promise<void>((resolve) => res.on('close', () => !res.writableFinished && resolve()));
    const payment = req.headers[PAYMENT_HEADER] as string | undefined;
    const behaviour = this.behave(this.received.length);
    this.received.push({ seq: Number(req.headers[TRANSCODE_HEADERS.seq]), payment, aborted });
    for (const w of this.waiters) w();
    if (behaviour === 'hang') return;
    if (behaviour === 'error') {
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'TRANSCODE_FAILED', message: 'encoder crashed' } }));
      return;
    }
    if (behaviour !== 'ok') {
      res.writeHead(402, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'PAYMENT_REQUIRED', message: 'payment refused', reason: behaviour.reason } }));
      return;
    }
    const boundary = newBoundary();
    const chunks = encodeMultipart([{ headers: { [TRANSCODE_HEADERS.rendition]: '120p', 'content-type': 'video/mp2t' }, body: rendition }], boundary);
    res.writeHead(200, { 'content-type': `multipart/mixed; boundary=${boundary}` });
    for (const c of chunks) res.write(c);
    res.end();
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

/**
 * A relay on 127.0.0.1:0 that takes every descriptor and segment and records its path; `hold` keeps answers
 * to the paths `holds` names back (segments by default), and it answers 400 to the paths `refuses` names.
 */
async function fakeRelay(): Promise<{ url: string; puts: string[]; hold: boolean; holds: (path: string) => boolean; refuses: (path: string) => boolean; release: () => void; stop: () => Promise<void> }> {
  const puts: string[] = [];
  const held: Array<() => void> = [];
  const server = createServer(async (req, res) => {
    for await (const _ of req);
    puts.push(req.url!);
    if (relay.refuses(req.url!)) res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'BAD_REQUEST', message: 'refused' } }));
    else if (relay.hold && relay.holds(req.url!)) held.push(() => res.writeHead(201).end());
    else res.writeHead(201).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const relay = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    puts,
    hold: false,
    holds: (path: string) => path.endsWith('.ts'),
    refuses: (_path: string) => false,
    release: () => {
      for (const answer of held.splice(0)) answer();
    },
    stop: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  return relay;
}

/** Records every event of one kind a pipeline emits. */
function record<K extends keyof StreamPipelineEvents>(pipeline: StreamPipeline, name: K): Array<StreamPipelineEvents[K][0]> {
  const seen: Array<StreamPipelineEvents[K][0]> = [];
  (pipeline.on as (n: K, l: (e: StreamPipelineEvents[K][0]) => void) => void)(name, (e) => seen.push(e));
  return seen;
}

describe('stream pipeline', () => {
  const cleanups: Array<() => Promise<void> | void> = [];

  beforeAll(async () => {
    [source, rendition, source444] = await Promise.all([segment('source', '320x240'), segment('rendition', '160x120'), segment('source444', '320x240', 'yuv444p')]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(transcoders: FakeTranscoder[], options: { paid?: boolean; source?: Buffer } = {}) {
    for (const t of transcoders) {
      await t.start();
      cleanups.push(() => t.stop());
    }
    const relay = await fakeRelay();
    cleanups.push(relay.stop);
    const timers = new ManualTimers();
    const orchestrator = new InMemoryOrchestrator({ relay: relay.url, transcoders: transcoders.map((t) => t.url) });
    const session = new StreamSession({ playbackId: 'stream1', broadcaster: 'rtmp://test', maxPricePerPixel: 10n, refreshMs: 60_000 }, { orchestrator, timers });
    cleanups.push(() => session.abandon());
    const issuer = new TicketParamsIssuer(identityFromPrivateKey(randomBytes(32)).address);
    const paramsFetched: string[] = [];
    const payments = options.paid
      ? new PaymentSender({
          identity: identityFromPrivateKey(randomBytes(32)),
          maxPricePerPixel: 10n,
          ticketParams: async (url, sender) => {
            paramsFetched.push(url);
            return ticketParamsToJson(issuer.issue(sender, { faceValue: 10n ** 18n, winProb: MAX_WIN_PROB, pricePerPixel: 1n, ttlMs: 600_000, now: Date.now() }));
          },
        })
      : null;
    const pipeline = new StreamPipeline({ playbackId: 'stream1', segmentSeconds: 2, ladderRungs: LADDER, maxTranscodeBacklog: 10 }, { session, payments, timers });
    await session.open();
    pipeline.beginPublication();
    pipeline.setSource(probeTs(options.source ?? source));
    const push = (duration = 2) => pipeline.push({ bytes: source, duration, programDateTime: new Date(timers.now()).toISOString(), completedAt: timers.now() });
    return { pipeline, session, orchestrator, relay, timers, push, paramsFetched };
  }

  it('sends a segment to the next transcoder as well when the first is past its deadline, keeps the first answer and aborts the other', async () => {
    const slow = new FakeTranscoder(() => 'hang');
    const fast = new FakeTranscoder(() => 'ok');
    const { pipeline, relay, timers, push } = await setup([slow, fast]);
    const hedged = record(pipeline, 'hedged');
    const transcoded = once(pipeline, 'transcoded');
    push();
    await slow.requests(1);
    assert.equal(fast.received.length, 0, 'the next transcoder waits for the deadline');
    timers.advance(durationsMs(2, 2, 1_000) - 1);
    assert.equal(hedged.length, 0);
    timers.advance(1);
    assert.deepEqual(hedged, [{ seq: 0, transcoder: slow.url, deadlineMs: 4_000 }]);
    const [{ transcoder }] = await transcoded;
    assert.equal(transcoder, fast.url);
    await slow.received[0]!.aborted;
    await pipeline.drain();
    assert.ok(relay.puts.includes('/hls/stream1/120p/0.ts'));
    assert.ok(relay.puts.includes('/hls/stream1/source/0.ts'));
  });

  it('transcodes no segment that fell RENDITION_LAG_SEGMENTS behind the stream (the relay lists its renditions as gaps), and pays for none', async () => {
    const transcoder = new FakeTranscoder(() => 'ok');
    const { pipeline, relay, push } = await setup([transcoder]);
    // The rendition of segment 0 waits for the relay; the chain behind it with it.
    relay.holds = (path) => path.includes('/120p/');
    relay.hold = true;
    const failed = record(pipeline, 'transcodeFailed');
    const transcoded = record(pipeline, 'transcoded');
    push();
    await transcoder.requests(1);
    for (let i = 1; i <= RENDITION_LAG_SEGMENTS + 1; i++) push();
    relay.hold = false;
    relay.release();
    await pipeline.drain();
    // Newest is 5: segment 1 is 4 behind when its turn comes, given up; 2 on are in time.
    assert.deepEqual(failed.map((f) => [f.seq, f.reason]), [[1, 'late']]);
    assert.deepEqual(transcoded.map((t) => t.seq), [0, 2, 3, 4, 5]);
    assert.deepEqual(transcoder.received.map((r) => r.seq), [0, 2, 3, 4, 5], 'no transcoder was asked (or paid) for it');
  });

  it('skips source segments behind a relay that stops answering instead of queueing them, and reports the relay', async () => {
    const { pipeline, relay, orchestrator, push } = await setup([new FakeTranscoder(() => 'ok')]);
    relay.hold = true;
    const failed = record(pipeline, 'publishFailed');
    for (let i = 0; i < 8; i++) push();
    // Three wait for the relay; the five behind them are skipped at once, not queued.
    assert.deepEqual(failed.filter((f) => f.rendition === 'source').map((f) => f.seq), [3, 4, 5, 6, 7]);
    assert.ok(failed.every((f) => f.backlog === 3));
    assert.ok(orchestrator.reassignments.some((r) => r.avoid.includes(relay.url)), 'the slow relay is reported and avoided');
    relay.hold = false;
    relay.release();
    await pipeline.drain();
  });

  const part = (n: number) => ({ duration: 0.3, independent: n === 0 });
  const pushedParts = (puts: string[]) => puts.flatMap((u) => /\/(\d+\.\d+)\.m4s$/.exec(u)?.[1] ?? []);

  it('pushes the init segment when it is cut, before any part, and no part of a segment after one the relay refused', async () => {
    const { pipeline, relay } = await setup([]);
    const failed = record(pipeline, 'partFailed');
    relay.refuses = (path) => path.endsWith('/1.2.m4s');
    pipeline.publishInit(1, Buffer.from('init'), 0.334);
    await pipeline.drain();
    assert.ok(relay.puts.at(-1)!.endsWith('/init-1.mp4'), 'the init went out on its own');
    for (let n = 0; n < 5; n++) pipeline.publishPart(1, n, part(n), Buffer.from(`part ${n}`));
    pipeline.publishPart(2, 0, part(0), Buffer.from('next segment'));
    await pipeline.drain();
    assert.deepEqual(pushedParts(relay.puts), ['1.0', '1.1', '1.2', '2.0'], 'after the refused part, the next segment');
    assert.deepEqual(failed.map((f) => [f.seq, f.part, f.reason]), [[1, 2, 'refused'], [1, 3, 'after_missing'], [1, 4, 'after_missing']]);
  });

  it('skips parts queued behind a relay that does not answer, beyond the bound, and says so', async () => {
    const { pipeline, relay } = await setup([]);
    const failed = record(pipeline, 'partFailed');
    relay.hold = true;
    relay.holds = (path) => path.endsWith('/init-1.mp4');
    pipeline.publishInit(1, Buffer.from('init'), 0.334);
    for (let n = 0; n < 8; n++) pipeline.publishPart(1, n, part(n), Buffer.from(`part ${n}`));
    // The relay holds the init while the parts queue behind it.
    for (const until = Date.now() + 5_000; !relay.puts.some((p) => p.endsWith('/init-1.mp4')); ) {
      assert.ok(Date.now() < until, 'the init push reached the relay');
      await new Promise((r) => setImmediate(r));
    }
    relay.release();
    await pipeline.drain();
    assert.deepEqual(pushedParts(relay.puts), ['1.0', '1.1', '1.2', '1.3', '1.4', '1.5']);
    assert.deepEqual(failed.map((f) => [f.seq, f.part, f.reason]), [[1, 6, 'backlog'], [1, 7, 'backlog']]);
  });

  it('rotates which transcoder goes first with the segment sequence', async () => {
    const a = new FakeTranscoder(() => 'ok');
    const b = new FakeTranscoder(() => 'ok');
    const { pipeline, push } = await setup([a, b]);
    for (let i = 0; i < 4; i++) push();
    await pipeline.drain();
    assert.deepEqual(a.received.map((r) => r.seq), [0, 2]);
    assert.deepEqual(b.received.map((r) => r.seq), [1, 3]);
  });

  it('retries once on the same transcoder with fresh ticket parameters when it refuses expired ones', async () => {
    const a = new FakeTranscoder((n) => (n === 0 ? { status: 402, reason: 'expired' } : 'ok'));
    const b = new FakeTranscoder(() => 'ok');
    const { pipeline, push, paramsFetched } = await setup([a, b], { paid: true });
    const refused = record(pipeline, 'paymentRefused');
    const tickets = record(pipeline, 'ticketsSent');
    const transcoded = record(pipeline, 'transcoded');
    push();
    await pipeline.drain();
    assert.equal(a.received.length, 2);
    assert.ok(a.received.every((r) => r.payment), 'both attempts carry a payment');
    assert.notEqual(a.received[0]!.payment, a.received[1]!.payment);
    assert.deepEqual(paramsFetched, [a.url, a.url], 'the retry fetched new parameters');
    assert.equal(b.received.length, 0);
    assert.deepEqual(refused, [{ seq: 0, transcoder: a.url, reason: 'expired', retrying: true }]);
    assert.deepEqual(transcoded, [{ seq: 0, transcoder: a.url }]);
    assert.equal(tickets.length, 1, 'tickets are counted for the answered attempt');
  });

  it('moves to the next transcoder when the payment is refused for a reason fresh parameters do not cure', async () => {
    const a = new FakeTranscoder(() => ({ status: 402, reason: 'insufficient_deposit' }));
    const b = new FakeTranscoder(() => 'ok');
    const { pipeline, push, orchestrator } = await setup([a, b], { paid: true });
    const failures = record(pipeline, 'transcodeFailed');
    const transcoded = record(pipeline, 'transcoded');
    push();
    await pipeline.drain();
    assert.equal(a.received.length, 1);
    assert.equal(b.received.length, 1);
    assert.deepEqual(transcoded, [{ seq: 0, transcoder: b.url }]);
    assert.equal(failures.length, 1);
    assert.deepEqual({ ...failures[0], err: undefined }, { seq: 0, reason: 'payment_refused', transcoder: a.url, paymentReason: 'insufficient_deposit', err: undefined });
    assert.deepEqual(orchestrator.reassignments.map((r) => r.avoid), [[a.url]]);
  });

  it('asks the session to reassign when a transcoder fails, at most once a second', async () => {
    const a = new FakeTranscoder(() => 'error');
    const b = new FakeTranscoder(() => 'ok');
    const { pipeline, push, orchestrator, timers, relay } = await setup([a, b]);
    for (let i = 0; i < 3; i++) push();
    await pipeline.drain();
    assert.deepEqual(a.received.map((r) => r.seq), [0, 2]);
    assert.deepEqual(orchestrator.reassignments.map((r) => r.avoid), [[a.url]], 'two failures, one reassignment');
    timers.advance(1_000);
    push();
    push();
    await pipeline.drain();
    assert.deepEqual(orchestrator.reassignments.map((r) => r.avoid), [[a.url], [a.url]]);
    for (let seq = 0; seq < 5; seq++) assert.ok(relay.puts.includes(`/hls/stream1/120p/${seq}.ts`), `rendition of ${seq} published`);
  });

  it('gives up on the renditions (not the source) when every transcoder fails, after asking for others once', async () => {
    const a = new FakeTranscoder(() => 'error');
    const { pipeline, push, orchestrator, relay } = await setup([a]);
    const abandoned = record(pipeline, 'transcodeAbandoned');
    push();
    await pipeline.drain();
    assert.equal(abandoned.length, 1);
    assert.equal(abandoned[0]!.seq, 0);
    // Says what the transcoder answered, so the log line and castnet dev name the cause.
    assert.match(abandoned[0]!.why, new RegExp(`^${a.url.replace(/[.]/g, '\\.')}: .*encoder crashed`));
    assert.deepEqual(orchestrator.reassignments.map((r) => r.avoid), [[a.url], [a.url]], 'the failure, then the immediate retry round');
    assert.ok(relay.puts.includes('/hls/stream1/source/0.ts'));
    assert.ok(!relay.puts.includes('/hls/stream1/120p/0.ts'));
  });

  it('names the payment refusal when a paid segment finds no transcoder', async () => {
    const a = new FakeTranscoder(() => ({ status: 402, reason: 'insufficient_deposit' }));
    const { pipeline, push } = await setup([a], { paid: true });
    const abandoned = record(pipeline, 'transcodeAbandoned');
    push();
    await pipeline.drain();
    assert.match(abandoned[0]!.why, /: payment refused \(insufficient_deposit\): transcoder refused the segment: 402 /);
  });

  it('transcodes segments with a fractional duration (long keyframe intervals)', async () => {
    assert.equal(durationsMs(8.333, 4, 10_000), 33_332);
    assert.ok(Number.isInteger(durationsMs(8.333_333, 2, 1_000)));
    const a = new FakeTranscoder(() => 'ok');
    const { pipeline, push, relay } = await setup([a]);
    const failures = record(pipeline, 'transcodeFailed');
    push(8.333_333);
    await pipeline.drain();
    assert.deepEqual(failures, []);
    assert.ok(relay.puts.includes('/hls/stream1/120p/0.ts'));
  });

  it('warns once per publication when keyframes come far apart, and tells the orchestrator what to set', async () => {
    const a = new FakeTranscoder(() => 'ok');
    const { pipeline, push, orchestrator } = await setup([a]);
    const warnings = record(pipeline, 'warning');
    push(8.333);
    push(8.333);
    push(8.333);
    await pipeline.drain();
    assert.deepEqual(warnings.map((w) => w.code), ['long_keyframe_interval']);
    assert.match(warnings[0]!.message, /keyint=60/);
    assert.deepEqual(orchestrator.requests.at(-1)!.warnings?.map((w) => w.code), ['long_keyframe_interval']);
    pipeline.beginPublication();
    pipeline.setSource(probeTs(source));
    push(8.333);
    await pipeline.drain();
    assert.equal(warnings.length, 2, 'a new publication is judged again');
  });

  it('neither advertises nor publishes a 4:4:4 source: a full-resolution rung takes its place, with a warning', async () => {
    const a = new FakeTranscoder(() => 'ok');
    const { pipeline, push, orchestrator, relay } = await setup([a], { source: source444 });
    assert.deepEqual(pipeline.ladder.map((r) => [r.name, r.width, r.height]), [['240p', 320, 240], ['120p', 160, 120]]);
    assert.deepEqual(pipeline.descriptor().variants.map((v) => v.name), ['240p', '120p']);
    assert.match(pipeline.descriptor().variants[0]!.codecs, /^avc1\.64/);
    assert.deepEqual(pipeline.warnings.map((w) => w.code), ['source_not_playable']);
    push();
    await pipeline.drain();
    assert.ok(!relay.puts.some((p) => p.includes('/source/')), 'no source segment reaches the relay');
    const last = orchestrator.requests.at(-1)!;
    assert.deepEqual(last.renditions.map((r) => r.name), ['240p', '120p']);
    assert.deepEqual(last.warnings?.map((w) => w.code), ['source_not_playable']);
  });
});
