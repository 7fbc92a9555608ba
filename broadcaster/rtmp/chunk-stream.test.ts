import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { ChunkReader, MessageType, encodeChunks } from './chunk-stream.ts';

const video = (size: number, fill = 7) => Buffer.alloc(size, fill);

describe('RTMP chunk stream', () => {
  it('reassembles a message split into chunks, fed one byte at a time', () => {
    const payload = video(1000);
    const wire = encodeChunks({ csid: 6, type: MessageType.Video, streamId: 1, timestamp: 40, payload }, 128);
    const reader = new ChunkReader();
    const messages = [...wire].flatMap((byte) => reader.push(Buffer.from([byte])));
    assert.equal(messages.length, 1);
    assert.deepEqual({ ...messages[0], payload: undefined }, { csid: 6, type: MessageType.Video, streamId: 1, timestamp: 40, payload: undefined });
    assert.ok(messages[0]!.payload.equals(payload));
  });

  it('applies a Set Chunk Size before parsing the chunks that follow it in the same read', () => {
    const size = Buffer.alloc(4);
    size.writeUInt32BE(4096);
    const wire = Buffer.concat([
      encodeChunks({ csid: 2, type: MessageType.SetChunkSize, streamId: 0, timestamp: 0, payload: size }, 128),
      encodeChunks({ csid: 6, type: MessageType.Video, streamId: 1, timestamp: 0, payload: video(3000) }, 4096),
    ]);
    const messages = new ChunkReader().push(wire);
    assert.deepEqual(messages.map((m) => [m.type, m.payload.length]), [[MessageType.SetChunkSize, 4], [MessageType.Video, 3000]]);
  });

  it('reads extended timestamps past 0xFFFFFF ms, on continuation chunks too', () => {
    const wire = encodeChunks({ csid: 4, type: MessageType.Audio, streamId: 1, timestamp: 0x1234567, payload: video(300) }, 128);
    const [msg] = new ChunkReader().push(wire);
    assert.equal(msg!.timestamp, 0x1234567);
    assert.equal(msg!.payload.length, 300);
  });

  it('adds type-1 and type-3 timestamp deltas to the previous message time', () => {
    const first = encodeChunks({ csid: 4, type: MessageType.Audio, streamId: 1, timestamp: 1000, payload: video(10) }, 128);
    // fmt 1: delta 23, length 10, type audio
    const second = Buffer.concat([Buffer.from([0x44, 0, 0, 23, 0, 0, 10, MessageType.Audio]), video(10)]);
    // fmt 3: same delta again
    const third = Buffer.concat([Buffer.from([0xc4]), video(10)]);
    const messages = new ChunkReader().push(Buffer.concat([first, second, third]));
    assert.deepEqual(messages.map((m) => m.timestamp), [1000, 1023, 1046]);
  });

  it('refuses a chunk stream that starts without a full header', () => {
    assert.throws(() => new ChunkReader().push(Buffer.from([0xc5, 1, 2, 3])), /starts without a type-0 header/);
  });

  it('refuses a message larger than the bound', () => {
    const header = Buffer.from([0x06, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0]);
    assert.throws(() => new ChunkReader().push(header), /exceeds the limit/);
  });
});
