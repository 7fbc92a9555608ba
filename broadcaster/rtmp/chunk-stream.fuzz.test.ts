// Property-based fuzzing of the chunk parser, which reads bytes from anyone who connects. FUZZ_RUNS
// (set by `npm run fuzz`) lengthens the run; the default keeps the unit suite quick.

import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { ChunkReader, MessageType, defaultChunkReaderLimits, encodeChunks, type RtmpMessage } from './chunk-stream.ts';
import { RtmpProtocolError } from './rtmp-protocol-error.ts';

const RUNS = Number(process.env.FUZZ_RUNS) || 200;
const TIMEOUT_MS = Math.max(60_000, RUNS * 50);

/** Bytes and the lengths of the reads they arrive in. */
const bytesInReads = (bytes: fc.Arbitrary<Uint8Array>) =>
  fc.tuple(bytes, fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 40 })).map(([data, cuts]) => {
    const reads: Buffer[] = [];
    let off = 0;
    for (let i = 0; off < data.length; i++) {
      const n = cuts[i % cuts.length]!;
      reads.push(Buffer.from(data.subarray(off, off + n)));
      off += n;
    }
    return reads;
  });

/** Feeds reads until the parser refuses them; anything but its own error type fails the property. */
function feed(reader: ChunkReader, reads: Buffer[]): RtmpMessage[] {
  const messages: RtmpMessage[] = [];
  let sent = 0;
  for (const read of reads) {
    sent += read.length;
    try {
      messages.push(...reader.push(read));
    } catch (err) {
      if (!(err instanceof RtmpProtocolError)) throw err;
      break;
    }
    assert.ok(reader.reassemblyBytes <= defaultChunkReaderLimits.maxReassemblyBytes);
    assert.ok(reader.bytesCopied <= sent + 36 * reads.length, 'bytes copied stay linear in bytes sent');
  }
  return messages;
}

const messageArb = fc.record({
  csid: fc.integer({ min: 3, max: 63 }),
  type: fc.constantFrom(MessageType.Audio, MessageType.Video, MessageType.DataAmf0, MessageType.CommandAmf0, MessageType.Acknowledgement),
  streamId: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  timestamp: fc.oneof(fc.integer({ min: 0, max: 0xfffffe }), fc.integer({ min: 0xffffff, max: 2 ** 32 - 1 })),
  payload: fc.uint8Array({ maxLength: 700 }).map((b) => Buffer.from(b)),
});

describe('RTMP chunk parser on arbitrary bytes', () => {
  it('throws nothing but RtmpProtocolError, in bounded memory and linear copying', { timeout: TIMEOUT_MS }, () => {
    fc.assert(
      fc.property(bytesInReads(fc.uint8Array({ maxLength: 4000 })), (reads) => {
        feed(new ChunkReader(), reads);
      }),
      { numRuns: RUNS },
    );
  });

  it('reassembles valid chunk streams the same however the reads cut them', { timeout: TIMEOUT_MS }, () => {
    fc.assert(
      fc.property(fc.array(messageArb, { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 20 }), (messages, cuts) => {
        const wire = Buffer.concat(messages.map((m) => encodeChunks(m, 128)));
        const reader = new ChunkReader();
        const got: RtmpMessage[] = [];
        for (let off = 0, i = 0; off < wire.length; off += cuts[i++ % cuts.length]!) got.push(...reader.push(wire.subarray(off, off + cuts[i % cuts.length]!)));
        assert.deepEqual(
          got.map((m) => [m.csid, m.type, m.streamId, m.timestamp, m.payload.toString('hex')]),
          messages.map((m) => [m.csid, m.type, m.streamId, m.timestamp, m.payload.toString('hex')]),
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('throws nothing but RtmpProtocolError on valid chunk streams with bytes changed', { timeout: TIMEOUT_MS }, () => {
    fc.assert(
      fc.property(
        fc.array(messageArb, { minLength: 1, maxLength: 6 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 10 }),
        (messages, changes) => {
          const wire = Buffer.concat(messages.map((m) => encodeChunks(m, 128)));
          for (const [at, value] of changes) wire[at % wire.length] = value;
          feed(new ChunkReader(), [wire]);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
