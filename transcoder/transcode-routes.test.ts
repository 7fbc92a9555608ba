// The transcoder's HTTP path with a ladder runner the test controls instead of FFmpeg: the multipart
// answer, admission (503 past the queue), failures, and the events and metrics they produce.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { afterEach, describe, it } from 'vitest';
import { requestTranscode } from '../broadcaster/node-clients.ts';
import { waitFor } from '../test/support/wait.ts';
import { silentLogger } from '../observability/logger.ts';
import { fitLadder } from '../protocol/rendition.ts';
import { transcodeHeaders } from '../protocol/transcode-request.ts';
import type { LadderRunner } from './segment-transcoder.ts';
import { createTranscoder, type Transcoder, type TranscoderOptions } from './transcoder.ts';

const segment = Buffer.alloc(188 * 20, 0x47);
const ladder = fitLadder({ width: 854, height: 480, fps: 30 });
const params = (seq: number) => ({ playbackId: 'rt1', seq, renditions: ladder, sourceFps: 30, sourceAudio: 'aac' });

/** Writes a recognisable body for each rendition, as FFmpeg would write its outputs. */
const writeOutputs: LadderRunner = async (job) => {
  for (const r of job.renditions) await writeFile(job.outputs[r.name]!, Buffer.from(`rendition ${r.name}`));
};

/** A runner that holds every job until the test releases it. */
function gatedRunner() {
  const held: Array<() => void> = [];
  const arrivals: Array<() => void> = [];
  const runner: LadderRunner = async (job, timeout) => {
    await new Promise<void>((resolve) => {
      held.push(resolve);
      arrivals.shift()?.();
    });
    await writeOutputs(job, timeout);
  };
  return {
    runner,
    /** Resolves with the release of the next job to reach the runner. */
    async next(): Promise<() => void> {
      if (held.length === 0) await new Promise<void>((resolve) => arrivals.push(resolve));
      return held.shift()!;
    },
  };
}

function post(url: string, seq: number): Promise<Response> {
  return fetch(`${url}/transcode`, { method: 'POST', headers: transcodeHeaders(params(seq)), body: new Uint8Array(segment) });
}

/** A sample from /metrics whose labels include `labels`; 0 when there is none yet. */
async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
}

describe('transcoder HTTP path', () => {
  const started: Transcoder[] = [];

  async function transcoder(ffmpeg: LadderRunner, options: Partial<TranscoderOptions> = {}): Promise<Transcoder> {
    const t = await createTranscoder({ httpPort: 0, orchestrator: false, encoder: 'libx264', dataDir: null, pricePerPixel: 0n, ...options }, { logger: silentLogger, ffmpeg });
    await t.start();
    started.push(t);
    return t;
  }

  afterEach(async () => {
    for (const t of started.splice(0)) await t.stop();
  });

  it('answers every rendition the runner made as multipart, and reports it as one segmentTranscoded event', async () => {
    const t = await transcoder(writeOutputs);
    const events: Array<{ seconds: number; renditions: string[] }> = [];
    t.events.on('segmentTranscoded', (e) => events.push(e));
    const { renditions } = await requestTranscode(t.url, segment, params(0), 10_000);
    assert.deepEqual([...renditions.entries()].map(([name, body]) => [name, body.toString()]), ladder.map((r) => [r.name, `rendition ${r.name}`]));
    assert.equal(events.length, 1);
    assert.deepEqual(events[0]!.renditions, ladder.map((r) => r.name));
    assert.ok(events[0]!.seconds >= 0);
  });

  it('counts a transcoded segment under the same metric names and labels', async () => {
    const t = await transcoder(writeOutputs);
    await requestTranscode(t.url, segment, params(0), 10_000);
    assert.equal(await metric(t.url, 'castnet_transcoder_segments_transcoded_total', { result: 'ok' }), 1);
    assert.equal(await metric(t.url, 'castnet_transcoder_transcode_seconds_count', { rendition: '480p', encoder: 'libx264' }), 1);
    assert.equal(await metric(t.url, 'castnet_transcoder_bytes_received_total'), segment.length);
    assert.ok((await metric(t.url, 'castnet_transcoder_bytes_returned_total')) > 0);
    assert.equal(await metric(t.url, 'castnet_transcoder_segments_in_flight'), 0);
  });

  it('refuses a segment past the concurrency and the queue with 503 NO_NODE_AVAILABLE, and runs the queued one when a slot frees', async () => {
    const gate = gatedRunner();
    const t = await transcoder(gate.runner, { concurrency: 1, maxQueued: 1 });
    const rejected: string[] = [];
    t.events.on('rejected', (e) => rejected.push(e.reason));
    const first = post(t.url, 0);
    const releaseFirst = await gate.next();
    const second = post(t.url, 1);
    // The second waits in the queue: health says so once the request has arrived.
    await waitFor('the second segment queued', async () => ((await (await fetch(`${t.url}/healthz`)).json()) as { queued: number }).queued >= 1, 5_000, 10);
    assert.equal(await metric(t.url, 'castnet_transcoder_segments_in_flight'), 1);
    const third = await post(t.url, 2);
    assert.equal(third.status, 503);
    assert.equal(((await third.json()) as { error: { code: string } }).error.code, 'NO_NODE_AVAILABLE');
    assert.deepEqual(rejected, ['NO_NODE_AVAILABLE']);
    releaseFirst();
    assert.equal((await first).status, 200);
    (await gate.next())();
    assert.equal((await second).status, 200);
    assert.equal(await metric(t.url, 'castnet_transcoder_segments_transcoded_total', { result: 'NO_NODE_AVAILABLE' }), 1);
  });

  it('answers 422 INVALID_SEGMENT with the reason when FFmpeg fails, and counts the code', async () => {
    const t = await transcoder(async () => Promise.reject(new Error('Invalid data found when processing input')));
    const failed: string[] = [];
    t.events.on('transcodeFailed', (e) => failed.push(e.reason));
    const res = await post(t.url, 0);
    assert.equal(res.status, 422);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /FFmpeg could not transcode the segment: Invalid data/);
    assert.deepEqual(failed, ['INVALID_SEGMENT']);
    assert.equal(await metric(t.url, 'castnet_transcoder_segments_transcoded_total', { result: 'INVALID_SEGMENT' }), 1);
  });

  it('answers 500 TRANSCODE_FAILED when the runner writes no output for a rendition', async () => {
    const t = await transcoder(async () => {});
    const res = await post(t.url, 0);
    assert.equal(res.status, 500);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'TRANSCODE_FAILED');
  });

  it('refuses a truncated segment with 422 before the runner is called', async () => {
    let calls = 0;
    const t = await transcoder(async (job, timeout) => (calls++, writeOutputs(job, timeout)));
    const res = await fetch(`${t.url}/transcode`, { method: 'POST', headers: transcodeHeaders(params(0)), body: new Uint8Array(segment.subarray(0, 1000)) });
    assert.equal(res.status, 422);
    assert.equal(calls, 0);
    assert.equal(await metric(t.url, 'castnet_transcoder_segments_transcoded_total', { result: 'INVALID_SEGMENT' }), 1);
  });
});

describe('transcoder shutdown and abandoned requests', () => {
  /** A runner that runs until it is aborted, and says when it started and when it was killed. */
  function untilAborted() {
    let started!: () => void;
    let killed!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    const killedP = new Promise<void>((r) => (killed = r));
    const runner: LadderRunner = (_job, _timeout, signal) =>
      new Promise<void>((_resolve, reject) => {
        started();
        signal?.addEventListener('abort', () => {
          killed();
          reject(new Error('killed'));
        });
      });
    return { runner, started: startedP, killed: killedP };
  }

  it('kills the encode in flight when the node stops, so no FFmpeg job outlives it', async () => {
    const job = untilAborted();
    const t = await createTranscoder({ httpPort: 0, orchestrator: false, encoder: 'libx264', dataDir: null, pricePerPixel: 0n }, { logger: silentLogger, ffmpeg: job.runner });
    await t.start();
    const answer = post(t.url, 1).catch((err: Error) => err);
    await job.started;
    await t.stop();
    await job.killed;
    const result = await answer;
    assert.ok(result instanceof Error || !result.ok, 'the request in flight does not get renditions');
  });

  it('kills the encode of a request whose sender gave up, and frees its slot', async () => {
    const job = untilAborted();
    const t = await createTranscoder({ httpPort: 0, orchestrator: false, encoder: 'libx264', dataDir: null, pricePerPixel: 0n, concurrency: 1 }, { logger: silentLogger, ffmpeg: job.runner });
    await t.start();
    try {
      const gaveUp = new AbortController();
      const answer = fetch(`${t.url}/transcode`, { method: 'POST', headers: transcodeHeaders(params(2)), body: new Uint8Array(segment), signal: gaveUp.signal }).catch((err: Error) => err);
      await job.started;
      assert.equal(await metric(t.url, 'castnet_transcoder_segments_in_flight'), 1);
      gaveUp.abort();
      await job.killed;
      assert.ok((await answer) instanceof Error);
      // The slot is released once the killed run has unwound.
      await waitFor('the slot freed', async () => (await metric(t.url, 'castnet_transcoder_segments_in_flight')) === 0, 5_000, 10);
    } finally {
      await t.stop();
    }
  });
});
