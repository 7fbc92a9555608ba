// Property-based fuzzing of a live RTMP connection: after a real handshake, arbitrary commands and
// messages never make it fail with anything but a protocol refusal (no warning logged), never authorize
// more than one publish, and end each publication it started exactly once. FUZZ_RUNS lengthens the run.

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { encodeAmf0, type AmfValue } from './amf0.ts';
import { MessageType, encodeChunks } from './chunk-stream.ts';
import type { PublishSink } from './rtmp-connection.ts';
import { RtmpServer } from './rtmp-server.ts';
import { waitFor, within } from '../../test/support/wait.ts';

const RUNS = Math.ceil((Number(process.env.FUZZ_RUNS) || 200) / 4);
const TIMEOUT_MS = Math.max(60_000, RUNS * 200);
const HANDSHAKE_SIZE = 1536;

const warnings: string[] = [];
const sinks: Array<{ ends: number }> = [];
let authorizations = 0;
let server: RtmpServer;

beforeAll(async () => {
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  server = new RtmpServer({
    host: '127.0.0.1',
    port: 0,
    logger,
    limits: { rtmpIdleTimeoutMs: 5_000 },
    authorize: async () => {
      authorizations += 1;
      const sink = { ends: 0 };
      sinks.push(sink);
      return { onMetadata() {}, onAudio() {}, onVideo() {}, onEnd: () => void (sink.ends += 1) } satisfies PublishSink;
    },
  });
  await server.listen();
});

afterAll(() => server.close());

const scalar = fc.oneof(fc.double(), fc.boolean(), fc.string({ maxLength: 20 }), fc.constant(null), fc.constant(undefined));
const amfArg: fc.Arbitrary<AmfValue> = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.dictionary(fc.constantFrom('app', 'toString', 'valueOf', '__proto__', 'x'), scalar, { maxKeys: 3 }));
const commandName = fc.constantFrom('connect', 'createStream', 'releaseStream', 'FCPublish', 'publish', 'play', 'FCUnpublish', 'deleteStream', 'closeStream', '@setDataFrame', 'onMetaData', 'other');

const message = fc.oneof(
  fc.record({
    type: fc.constantFrom(MessageType.CommandAmf0, MessageType.DataAmf0),
    streamId: fc.integer({ min: 0, max: 2 }),
    payload: fc.tuple(commandName, fc.oneof(fc.nat(9), amfArg), fc.array(amfArg, { maxLength: 4 })).map(([name, txn, args]) => encodeAmf0(name, txn, ...args)),
  }),
  fc.record({
    type: fc.integer({ min: 0, max: 30 }),
    streamId: fc.integer({ min: 0, max: 2 }),
    payload: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
  }),
);

async function session(publishFirst: boolean, messages: Array<{ type: number; streamId: number; payload: Buffer }>): Promise<void> {
  const socket = connect({ host: '127.0.0.1', port: server.port });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let received = 0;
  socket.on('data', (d: Buffer) => void (received += d.length));
  socket.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(HANDSHAKE_SIZE)]));
  await waitFor('S0 S1 S2', () => received >= 1 + 2 * HANDSHAKE_SIZE, 5_000, 2);
  const publishes = [encodeAmf0('connect', 1, { app: 'live' }), encodeAmf0('publish', 0, null, 'key', 'live')].map((payload) => ({ type: MessageType.CommandAmf0, streamId: 0, payload }));
  const wire = [...(publishFirst ? publishes : []), ...messages].map((m, i) => encodeChunks({ csid: 3 + (i % 3), timestamp: i, ...m }, 128));
  socket.end(Buffer.concat([Buffer.alloc(HANDSHAKE_SIZE), ...wire]));
  await within('the connection to close', closed, 5_000);
}

describe('RTMP connection on arbitrary commands and messages', () => {
  it('refuses without a warning, authorizes once, and ends what it started once', { timeout: TIMEOUT_MS }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(message, { maxLength: 12 }), async (publishFirst, messages) => {
        warnings.length = 0;
        const before = { authorizations, sinks: sinks.length };
        await session(publishFirst, messages);
        await waitFor('the server to drop the connection', () => server.connectionCount === 0, 5_000, 2);
        assert.ok(authorizations - before.authorizations <= 1, 'at most one authorization per connection');
        await waitFor('each publication to end', () => sinks.every((s) => s.ends > 0), 5_000, 2);
        assert.ok(sinks.every((s) => s.ends === 1), 'each publication ended exactly once');
        assert.deepEqual(warnings, []);
      }),
      { numRuns: RUNS },
    );
    assert.ok(authorizations > 0, 'the runs reached authorization');
  });
});
