import assert from 'node:assert/strict';
import { pino } from 'pino';
import { describe, it } from 'vitest';
import { CastnetError } from '../protocol/errors.ts';
import { paymentRequired } from '../protocol/payment.ts';
import { logTranscoderEvents } from './event-log.ts';
import { TranscoderEventBus } from './transcoder-events.ts';

interface Line {
  level: number;
  msg: string;
  reason?: string;
  err?: { stack?: string };
}

function logged(): { events: TranscoderEventBus; lines: Line[] } {
  const lines: Line[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  const events = new TranscoderEventBus();
  logTranscoderEvents(events, logger);
  return { events, lines };
}

const DEBUG = 20;
const INFO = 30;
const WARN = 40;

describe('transcoder log lines', () => {
  it('logs refusals the sender handles as one line without a stack: debug for stale or forged tickets, info for a broadcaster short of funds', () => {
    const { events, lines } = logged();
    const refuse = (err: unknown) => events.emit('rejected', { playbackId: 'p', seq: 1, reason: 'x', err });
    refuse(paymentRequired('expired', 'ticket parameters expired: fetch new ones'));
    refuse(paymentRequired('bad_signature', 'not signed'));
    refuse(new CastnetError('INVALID_SEGMENT', 'not MPEG-TS'));
    refuse(paymentRequired('insufficient_deposit', 'what the sender can pay this transcoder (0 wei) cannot cover the face value 1000'));
    refuse(new CastnetError('UNAVAILABLE', 'the admission queue is full'));
    assert.deepEqual(lines.map((l) => l.level), [DEBUG, DEBUG, DEBUG, INFO, INFO]);
    assert.equal(lines[3]!.msg, 'segment refused: what the sender can pay this transcoder (0 wei) cannot cover the face value 1000');
    assert.equal(lines[3]!.reason, 'insufficient_deposit');
    assert.ok(lines.every((l) => l.err === undefined), 'no stack for a refusal');
  });

  it("warns once while senders' funds cannot be learned, and says when they can again", () => {
    const { events, lines } = logged();
    for (let seq = 0; seq < 3; seq++) events.emit('rejected', { seq, reason: 'PAYMENT_REQUIRED', err: paymentRequired('funds_unknown', "the sender's funds cannot be learned: the ledger at http://o:8935 could not be reached") });
    events.emit('paymentAccepted', { tickets: 1, winners: 0, expectedValue: 1n, price: 1n });
    events.emit('rejected', { seq: 4, reason: 'PAYMENT_REQUIRED', err: paymentRequired('funds_unknown', 'again') });
    assert.deepEqual(lines.map((l) => l.level), [WARN, DEBUG, DEBUG, INFO, WARN]);
    assert.match(lines[0]!.msg, /ledger at http:\/\/o:8935 could not be reached; every paid segment is refused until they can be/);
  });

  it('warns with the stack about what is wrong on this node', () => {
    const { events, lines } = logged();
    events.emit('rejected', { seq: 1, reason: 'INTERNAL', err: new Error('boom') });
    events.emit('transcodeFailed', { seq: 2, reason: 'TRANSCODE_FAILED', err: new CastnetError('TRANSCODE_FAILED', 'ffmpeg exited with 1') });
    assert.deepEqual(lines.map((l) => [l.level, l.msg]), [[WARN, 'segment refused'], [WARN, 'transcode failed']]);
    assert.ok(lines.every((l) => l.err?.stack));
  });
});
