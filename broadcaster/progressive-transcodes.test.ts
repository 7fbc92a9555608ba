// A segment's progressive transcode: opened at its first part with the publication's init segment first, fed
// each part as it is cut, ended with the segment; a call that fails before the pipeline takes it is replaced
// by a stand-in on another transcoder, fed everything so far. The host records the calls the broadcaster
// would make (the real calls, over HTTP to real transcoders, are test/low-latency.test.ts's and
// test/transcoder-kill.test.ts's).

import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { fitLadder } from '../protocol/rendition.ts';
import type { LiveTranscodeCall } from './live-transcode-client.ts';
import { ProgressiveTranscodes, type ProgressiveHost } from './progressive-transcodes.ts';

const ladder = fitLadder({ width: 1280, height: 720, fps: 30 }).slice(0, 1);

interface Opened {
  seq: number;
  transcoder: string;
  written: Buffer[];
  ended: boolean;
  signal: AbortSignal;
  fail: (err: Error) => void;
}

function recordingHost(transcoders = ['http://t1', 'http://t2']): { host: ProgressiveHost; opened: Opened[]; failures: Array<[number, string]> } {
  const opened: Opened[] = [];
  const failures: Array<[number, string]> = [];
  const host: ProgressiveHost = {
    choose: (_seq, avoid) => {
      const transcoder = transcoders.find((t) => !avoid.includes(t));
      return transcoder ? { transcoder, ladder } : null;
    },
    failed: (seq, url) => failures.push([seq, url]),
    open: async (transcoder, seq, _l, _f, signal) => {
      let fail!: (err: Error) => void;
      const done = new Promise<void>((_resolve, reject) => (fail = reject));
      const o: Opened = { seq, transcoder, written: [], ended: false, signal, fail };
      opened.push(o);
      const call: LiveTranscodeCall = { write: (b) => o.written.push(b), end: () => (o.ended = true), accepted: Promise.resolve({ paramsSpent: false }), done };
      return call;
    },
    frame: () => {},
    resumePoints: () => null,
    done: () => {},
  };
  return { host, opened, failures };
}

const tick = () => new Promise((r) => setImmediate(r));
const part = (seq: number, n: number) => Buffer.from(`seg${seq}-part${n}`);

describe('progressive transcodes', () => {
  it('opens a segment\'s transcode at its first part, init segment first, and ends it with the segment', async () => {
    const { host, opened } = recordingHost();
    const p = new ProgressiveTranscodes(host);
    const init = Buffer.from('init');
    p.sourceInit(init);
    p.sourcePart(0, 0, part(0, 0));
    await tick();
    p.sourcePart(0, 1, part(0, 1));
    p.sourceComplete(0);
    assert.deepEqual(opened.map((o) => o.seq), [0]);
    assert.deepEqual(opened[0]!.written, [init, part(0, 0), part(0, 1)]);
    assert.equal(opened[0]!.ended, true);
  });

  it('replaces a call that failed before the pipeline took it with a stand-in on another transcoder, fed every byte so far', async () => {
    const { host, opened, failures } = recordingHost();
    const p = new ProgressiveTranscodes(host);
    const init = Buffer.from('init');
    p.sourceInit(init);
    p.sourcePart(0, 0, part(0, 0));
    p.sourcePart(0, 1, part(0, 1));
    await tick();
    opened[0]!.fail(new Error('the transcoder went away'));
    await tick();
    await tick();
    assert.deepEqual(failures, [[0, 'http://t1']], 'the failure is reported once, against the transcoder that failed');
    assert.equal(opened.length, 2);
    assert.equal(opened[1]!.transcoder, 'http://t2');
    assert.deepEqual(opened[1]!.written, [init, part(0, 0), part(0, 1)], 'the stand-in gets the init and the parts so far');
    p.sourcePart(0, 2, part(0, 2));
    assert.deepEqual(opened[1]!.written.at(-1), part(0, 2), 'and the parts after');
    assert.equal(p.take(0, 'http://t1', new AbortController().signal), null, 'the failed transcoder has no answer to take');
    assert.notEqual(p.take(0, 'http://t2', new AbortController().signal), null);
  });

  it('opens each new publication\'s segments with its own init segment', async () => {
    const { host, opened } = recordingHost();
    const p = new ProgressiveTranscodes(host);
    p.sourceInit(Buffer.from('init-1'));
    p.sourcePart(0, 0, part(0, 0));
    p.sourceComplete(0);
    const init2 = Buffer.from('init-2');
    p.sourceInit(init2);
    p.sourcePart(1, 0, part(1, 0));
    await tick();
    assert.deepEqual(opened.find((o) => o.seq === 1)!.written, [init2, part(1, 0)]);
  });
});
