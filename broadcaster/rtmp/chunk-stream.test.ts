import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { ChunkReader, MessageType, encodeChunks } from './chunk-stream.ts';
import { RtmpProtocolError } from './rtmp-protocol-error.ts';

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

  it('closes on the message-length bound given to it', () => {
    const reader = new ChunkReader({ maxMessageBytes: 1000 });
    const wire = encodeChunks({ csid: 6, type: MessageType.Video, streamId: 1, timestamp: 0, payload: video(1001) }, 128);
    assert.throws(() => reader.push(wire), (err) => err instanceof RtmpProtocolError && err.reason === 'message_too_large');
  });

  it('counts partial messages across chunk streams and refuses past the reassembly bound', () => {
    const reader = new ChunkReader({ maxReassemblyBytes: 4 * 1024 * 1024, maxChunkStreams: 64 });
    // The first 128-byte chunk of a 1 MiB message on each chunk stream: each stream holds an unfinished message.
    const firstChunk = (csid: number) => encodeChunks({ csid, type: MessageType.Video, streamId: 1, timestamp: 0, payload: video(1024 * 1024) }, 128).subarray(0, 12 + 128);
    for (let csid = 4; csid < 8; csid++) assert.deepEqual(reader.push(firstChunk(csid)), []);
    assert.equal(reader.reassemblyBytes, 4 * 1024 * 1024);
    assert.throws(() => reader.push(firstChunk(8)), (err) => err instanceof RtmpProtocolError && err.reason === 'reassembly_bytes');
  });

  it('frees the count of a message abandoned by a new header, and of a completed one', () => {
    const reader = new ChunkReader();
    const partial = encodeChunks({ csid: 6, type: MessageType.Video, streamId: 1, timestamp: 0, payload: video(1000) }, 128).subarray(0, 12 + 128);
    reader.push(partial);
    assert.equal(reader.reassemblyBytes, 1000);
    const [msg] = reader.push(encodeChunks({ csid: 6, type: MessageType.Video, streamId: 1, timestamp: 0, payload: video(300) }, 128));
    assert.equal(msg!.payload.length, 300);
    assert.equal(reader.reassemblyBytes, 0);
  });

  it('refuses more chunk streams than the bound', () => {
    const reader = new ChunkReader({ maxChunkStreams: 64 });
    // A whole first chunk (128 bytes) of a 200-byte message, leaving the message unfinished.
    const open = (csid: number) => Buffer.concat([Buffer.from([0x00, csid - 64, 0, 0, 0, 0, 0, 200, MessageType.Video, 1, 0, 0, 0]), video(128)]);
    for (let csid = 64; csid < 128; csid++) reader.push(open(csid));
    assert.throws(() => reader.push(open(128)), (err) => err instanceof RtmpProtocolError && err.reason === 'too_many_chunk_streams');
  });

  it('refuses a Set Chunk Size too short to hold a size, with its own error', () => {
    const wire = encodeChunks({ csid: 2, type: MessageType.SetChunkSize, streamId: 0, timestamp: 0, payload: Buffer.from([1]) }, 128);
    assert.throws(() => new ChunkReader().push(wire), (err) => err instanceof RtmpProtocolError && err.reason === 'protocol');
  });

  it('copies each byte of a large message cut into many small reads about once', () => {
    const payload = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4096) payload[i] = i & 0xff;
    const wire = encodeChunks({ csid: 6, type: MessageType.Video, streamId: 1, timestamp: 0, payload }, 128);
    const reader = new ChunkReader();
    const messages = [];
    for (let off = 0; off < wire.length; off += 1000) messages.push(...reader.push(wire.subarray(off, off + 1000)));
    assert.equal(messages.length, 1);
    assert.ok(messages[0]!.payload.equals(payload));
    // Payload once, plus at most 36 bytes of header joins per read: linear in what was sent.
    const reads = Math.ceil(wire.length / 1000);
    assert.ok(reader.bytesCopied <= payload.length + 36 * reads, `copied ${reader.bytesCopied} bytes for ${wire.length} sent`);
  });

  it('copies a single 8 MiB chunk once however small the reads it arrives in', () => {
    const size = Buffer.alloc(4);
    size.writeUInt32BE(8 * 1024 * 1024);
    const payload = video(8 * 1024 * 1024, 3);
    const wire = Buffer.concat([
      encodeChunks({ csid: 2, type: MessageType.SetChunkSize, streamId: 0, timestamp: 0, payload: size }, 128),
      encodeChunks({ csid: 6, type: MessageType.Video, streamId: 1, timestamp: 0, payload }, 8 * 1024 * 1024),
    ]);
    const reader = new ChunkReader();
    const messages = [];
    for (let off = 0; off < wire.length; off += 4096) messages.push(...reader.push(wire.subarray(off, off + 4096)));
    assert.deepEqual(messages.map((m) => m.payload.length), [4, payload.length]);
    assert.ok(reader.bytesCopied <= wire.length + 36 * Math.ceil(wire.length / 4096), `copied ${reader.bytesCopied} bytes for ${wire.length} sent`);
  });
});
