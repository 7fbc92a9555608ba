// Attack: a transcoder that answers a progressive transcode (POST /transcode/live) with bytes meant to hurt
// the broadcaster reading them, over real HTTP: a frame length past the bound (refused from its header, not
// buffered), a rendition the request did not ask for, bytes after the end frame, an answer cut off before it,
// a body that never ends (timed out), an answer bigger than the limit, the wrong content type, and an error
// frame. Each ends the call with its own error and no frame of it is handed on; the honest answer decodes.

import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { CastnetError } from '../protocol/errors.ts';
import { encodeFrame, errorFrame, FRAGMENT_STREAM_TYPE, MAX_FRAME_BYTES, type Frame } from '../protocol/fragment-stream.ts';
import { fitLadder } from '../protocol/rendition.ts';
import { startLiveTranscode } from './live-transcode-client.ts';

const ladder = fitLadder({ width: 1280, height: 720, fps: 30 }).slice(0, 2);
const params = { playbackId: 'hostile', seq: 1, renditions: ladder, sourceFps: 30, sourceAudio: 'aac' };
const live = { paidSeconds: 2.5, partTarget: 0.334 };

type Behaviour = (req: IncomingMessage, res: ServerResponse) => void;
const behaviours: Record<string, Behaviour> = {
  honest: (_req, res) => {
    res.writeHead(200, { 'content-type': FRAGMENT_STREAM_TYPE });
    for (const c of [...encodeFrame(0, 'init', Buffer.from('i0')), ...encodeFrame(1, 'init', Buffer.from('i1')), ...encodeFrame(0, 'fragment', Buffer.from('f0')), ...encodeFrame(0, 'end')]) res.write(c);
    res.end();
  },
  huge: (_req, res) => {
    res.writeHead(200, { 'content-type': FRAGMENT_STREAM_TYPE });
    const head = Buffer.alloc(6);
    head[1] = 1;
    head.writeUInt32BE(MAX_FRAME_BYTES + 1, 2);
    res.write(head); // and nothing else: the decoder must refuse from the header, not wait for 32 MiB
  },
  'other-rendition': (_req, res) => {
    res.writeHead(200, { 'content-type': FRAGMENT_STREAM_TYPE });
    for (const c of encodeFrame(5, 'init', Buffer.from('x'))) res.write(c);
    res.end();
  },
  'after-end': (_req, res) => {
    res.writeHead(200, { 'content-type': FRAGMENT_STREAM_TYPE });
    res.end(Buffer.concat([...encodeFrame(0, 'end'), Buffer.from('more')]));
  },
  'cut-off': (_req, res) => {
    res.writeHead(200, { 'content-type': FRAGMENT_STREAM_TYPE });
    res.end(Buffer.concat(encodeFrame(0, 'init', Buffer.from('i0'))));
  },
  endless: (_req, res) => {
    res.writeHead(200, { 'content-type': FRAGMENT_STREAM_TYPE });
    const timer = setInterval(() => res.write(Buffer.concat(encodeFrame(0, 'fragment', Buffer.alloc(10)))), 50);
    res.on('close', () => clearInterval(timer));
  },
  flood: (_req, res) => {
    res.writeHead(200, { 'content-type': FRAGMENT_STREAM_TYPE });
    res.write(Buffer.concat(encodeFrame(0, 'init', Buffer.alloc(10))));
    const chunk = Buffer.concat(encodeFrame(0, 'fragment', Buffer.alloc(64 * 1024)));
    const timer = setInterval(() => res.write(chunk), 1);
    res.on('close', () => clearInterval(timer));
  },
  'wrong-type': (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html>');
  },
  'error-frame': (_req, res) => {
    res.writeHead(200, { 'content-type': FRAGMENT_STREAM_TYPE });
    res.end(Buffer.concat([...encodeFrame(0, 'init', Buffer.from('i0')), ...errorFrame('TRANSCODE_FAILED', 'encoder gave up')]));
  },
};

describe('a hostile transcoder answering a progressive transcode', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    // The behaviour rides in the request's sequence number (its index in `behaviours`).
    server = createServer((req, res) => {
      req.resume();
      const name = req.url === '/transcode/live' ? (Object.keys(behaviours)[Number(req.headers['castnet-seq'])] ?? '') : '';
      (behaviours[name] ?? ((_q: IncomingMessage, r: ServerResponse) => r.writeHead(404).end()))(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  function call(behaviour: string, options: { timeoutMs?: number; maxAnswerBytes?: number } = {}) {
    const frames: Frame[] = [];
    const c = startLiveTranscode(url, { ...params, seq: Object.keys(behaviours).indexOf(behaviour) }, live, { onFrame: (f) => frames.push(f), timeoutMs: options.timeoutMs ?? 5_000, maxAnswerBytes: options.maxAnswerBytes ?? 1 << 20 });
    c.write(Buffer.from('source'));
    c.end();
    return { c, frames };
  }

  it('decodes an honest answer into its frames', async () => {
    const { c, frames } = call('honest');
    await c.done;
    assert.deepEqual(frames.map((f) => [f.rendition, f.kind, f.payload.toString()]), [[0, 'init', 'i0'], [1, 'init', 'i1'], [0, 'fragment', 'f0']]);
  });

  const refusals: Array<[string, RegExp, { timeoutMs?: number; maxAnswerBytes?: number }?]> = [
    ['huge', /frame of \d+ bytes \(at most/],
    ['other-rendition', /rendition index 5 of 2/],
    ['after-end', /after the last frame/],
    ['cut-off', /cut off before its end frame/],
    ['endless', /did not finish in 800 ms/, { timeoutMs: 800 }],
    ['flood', /progressive answer over 1048576 bytes/],
    ['wrong-type', /not application\/vnd\.castnet\.fragments/],
    ['error-frame', /failed mid-answer: encoder gave up/],
  ];
  for (const [behaviour, reason, options] of refusals) {
    it(`ends the call on ${behaviour}, with its reason`, async () => {
      const { c, frames } = call(behaviour, options);
      await assert.rejects(c.done, (err: CastnetError) => err instanceof CastnetError && reason.test(err.message));
      if (behaviour !== 'flood' && behaviour !== 'endless' && behaviour !== 'cut-off' && behaviour !== 'error-frame') assert.deepEqual(frames, [], 'nothing of a malformed answer is handed on');
    });
  }
});
