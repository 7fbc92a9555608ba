// RTMP chunk stream (Adobe RTMP spec §5.3): reassembles messages from interleaved chunks, and splits
// outgoing messages into chunks. Hot path: runs for every audio/video message a publisher sends.

import { RtmpProtocolError } from './rtmp-protocol-error.ts';

export interface RtmpMessage {
  csid: number;
  type: number;
  streamId: number;
  timestamp: number;
  payload: Buffer;
}

export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  CommandAmf3: 17,
  DataAmf0: 18,
  CommandAmf0: 20,
} as const;

/** What one connection's reassembly may hold; a peer past any of them is cut off. */
export interface ChunkReaderLimits {
  /** The largest message; the RTMP length field is 24-bit (16 MiB), which is still more than a video frame needs. */
  maxMessageBytes: number;
  /** Chunk streams a peer may open; encoders use a handful (control, command, audio, video). */
  maxChunkStreams: number;
  /** The sum of the messages being reassembled across all chunk streams, counted at their announced length. */
  maxReassemblyBytes: number;
}

export const defaultChunkReaderLimits: ChunkReaderLimits = {
  maxMessageBytes: 8 * 1024 * 1024,
  maxChunkStreams: 64,
  maxReassemblyBytes: 16 * 1024 * 1024,
};

interface ChunkState {
  csid: number;
  timestamp: number;
  delta: number;
  length: number;
  type: number;
  streamId: number;
  extended: boolean;
  /** The message being reassembled, allocated at its announced length; null between messages. */
  payload: Buffer | null;
  received: number;
}

interface ChunkHeader {
  /** Bytes of basic header, message header and extended timestamp. */
  size: number;
  fmt: number;
  csid: number;
  tsField: number;
  length: number;
  type: number;
  streamId: number;
  extended: boolean;
}

const MESSAGE_HEADER_LENGTH = [11, 7, 3, 0] as const;
/** 3-byte basic header, 11-byte message header, 4-byte extended timestamp. */
const MAX_CHUNK_HEADER_BYTES = 18;

/**
 * Reassembles messages from chunks. Each byte is copied once into the message it belongs to: chunk
 * payloads are copied straight from the read they arrive in, so neither a slow peer nor a large chunk
 * size makes pending data be copied again; only a header cut between two reads (at most 18 bytes) is kept.
 */
export class ChunkReader {
  private chunkSize = 128;
  private readonly states = new Map<number, ChunkState>();
  private partialHeader: Buffer | null = null;
  /** The chunk whose payload is still arriving, and how many of its bytes are still to come. */
  private current: ChunkState | null = null;
  private currentRemaining = 0;
  private reassembling = 0;
  private copied = 0;
  private readonly limits: ChunkReaderLimits;

  constructor(limits: Partial<ChunkReaderLimits> = {}) {
    this.limits = { ...defaultChunkReaderLimits, ...limits };
  }

  /** Bytes of the messages being reassembled, counted at their announced length (what is allocated). */
  get reassemblyBytes(): number {
    return this.reassembling;
  }

  /** Bytes copied since this reader was made: stays proportional to the bytes pushed, whatever their cut. */
  get bytesCopied(): number {
    return this.copied;
  }

  /** Consumes bytes; returns every message they complete. Throws RtmpProtocolError on a protocol violation or a limit. */
  push(data: Buffer): RtmpMessage[] {
    const messages: RtmpMessage[] = [];
    let off = 0;
    if (this.partialHeader) {
      // The rest of the header is within the next 18 bytes: join only those.
      const joined = Buffer.concat([this.partialHeader, data.subarray(0, MAX_CHUNK_HEADER_BYTES)]);
      this.copied += joined.length;
      const header = this.readHeader(joined, 0);
      if (!header) {
        this.partialHeader = joined;
        return messages;
      }
      off = header.size - this.partialHeader.length;
      this.partialHeader = null;
      this.startChunk(header, messages);
    }
    while (off < data.length) {
      const state = this.current;
      if (state) {
        const n = Math.min(this.currentRemaining, data.length - off);
        data.copy(state.payload!, state.received, off, off + n);
        this.copied += n;
        state.received += n;
        this.currentRemaining -= n;
        off += n;
        if (this.currentRemaining === 0) this.endChunk(state, messages);
        continue;
      }
      const header = this.readHeader(data, off);
      if (!header) {
        this.partialHeader = Buffer.from(data.subarray(off));
        this.copied += this.partialHeader.length;
        break;
      }
      off += header.size;
      this.startChunk(header, messages);
    }
    return messages;
  }

  /** Parses a chunk header at `off`, or returns null when it is not all there yet. Commits nothing. */
  private readHeader(buf: Buffer, off: number): ChunkHeader | null {
    const b0 = buf[off]!;
    const fmt = b0 >> 6;
    let csid = b0 & 0x3f;
    let p = off + 1;
    if (csid === 0) {
      if (buf.length < p + 1) return null;
      csid = buf[p]! + 64;
      p += 1;
    } else if (csid === 1) {
      if (buf.length < p + 2) return null;
      csid = buf[p]! + buf[p + 1]! * 256 + 64;
      p += 2;
    }
    const state = this.states.get(csid);
    if (!state && fmt !== 0) throw new RtmpProtocolError('protocol', `RTMP: chunk stream ${csid} starts without a type-0 header`);
    const headerLength = MESSAGE_HEADER_LENGTH[fmt as 0 | 1 | 2 | 3];
    if (buf.length < p + headerLength) return null;
    let tsField = 0;
    let length = state?.length ?? 0;
    let type = state?.type ?? 0;
    let streamId = state?.streamId ?? 0;
    if (fmt <= 2) tsField = buf.readUIntBE(p, 3);
    if (fmt <= 1) {
      length = buf.readUIntBE(p + 3, 3);
      type = buf[p + 6]!;
    }
    if (fmt === 0) streamId = buf.readUInt32LE(p + 7);
    p += headerLength;
    const extended = fmt <= 2 ? tsField === 0xffffff : state!.extended;
    if (extended) {
      if (buf.length < p + 4) return null;
      tsField = buf.readUInt32BE(p);
      p += 4;
    }
    return { size: p - off, fmt, csid, tsField, length, type, streamId, extended };
  }

  private startChunk(header: ChunkHeader, messages: RtmpMessage[]): void {
    const { fmt, csid } = header;
    let state = this.states.get(csid);
    if (!state) {
      if (this.states.size >= this.limits.maxChunkStreams) {
        throw new RtmpProtocolError('too_many_chunk_streams', `RTMP: more than ${this.limits.maxChunkStreams} chunk streams`);
      }
      state = { csid, timestamp: 0, delta: 0, length: 0, type: 0, streamId: 0, extended: false, payload: null, received: 0 };
      this.states.set(csid, state);
    }
    // A new header mid-message: the peer abandoned the old message.
    if (state.payload && fmt !== 3) this.discard(state);
    state.extended = header.extended;
    if (!state.payload) {
      if (header.length > this.limits.maxMessageBytes) {
        throw new RtmpProtocolError('message_too_large', `RTMP: message of ${header.length} bytes exceeds the limit of ${this.limits.maxMessageBytes}`);
      }
      if (this.reassembling + header.length > this.limits.maxReassemblyBytes) {
        throw new RtmpProtocolError('reassembly_bytes', `RTMP: messages in reassembly exceed ${this.limits.maxReassemblyBytes} bytes`);
      }
      if (fmt === 0) {
        state.timestamp = header.tsField;
        state.delta = header.tsField;
      } else if (fmt === 1 || fmt === 2) {
        state.delta = header.tsField;
        state.timestamp = (state.timestamp + header.tsField) >>> 0;
      } else {
        state.timestamp = (state.timestamp + state.delta) >>> 0;
      }
      state.length = header.length;
      state.type = header.type;
      state.streamId = header.streamId;
      state.payload = Buffer.allocUnsafe(header.length);
      state.received = 0;
      this.reassembling += header.length;
    }
    this.current = state;
    this.currentRemaining = Math.min(this.chunkSize, state.length - state.received);
    if (this.currentRemaining === 0) this.endChunk(state, messages);
  }

  private endChunk(state: ChunkState, messages: RtmpMessage[]): void {
    this.current = null;
    if (state.received < state.length) return;
    const payload = state.payload!;
    state.payload = null;
    state.received = 0;
    this.reassembling -= state.length;
    if (state.type === MessageType.SetChunkSize) {
      if (payload.length < 4) throw new RtmpProtocolError('protocol', 'RTMP: short Set Chunk Size');
      const size = payload.readUInt32BE(0) & 0x7fffffff;
      if (size < 1) throw new RtmpProtocolError('protocol', 'RTMP: invalid chunk size');
      this.chunkSize = size;
    } else if (state.type === MessageType.Abort) {
      if (payload.length < 4) throw new RtmpProtocolError('protocol', 'RTMP: short Abort');
      const target = this.states.get(payload.readUInt32BE(0));
      if (target?.payload) this.discard(target);
    }
    messages.push({ csid: state.csid, type: state.type, streamId: state.streamId, timestamp: state.timestamp, payload });
  }

  private discard(state: ChunkState): void {
    this.reassembling -= state.length;
    state.payload = null;
    state.received = 0;
  }
}

/** Splits one message into chunks: a type-0 chunk, then type-3 continuations. */
export function encodeChunks(msg: Omit<RtmpMessage, 'csid'> & { csid: number }, chunkSize: number): Buffer {
  const extended = msg.timestamp >= 0xffffff;
  const header = Buffer.alloc(12 + (extended ? 4 : 0));
  header[0] = msg.csid & 0x3f;
  header.writeUIntBE(extended ? 0xffffff : msg.timestamp, 1, 3);
  header.writeUIntBE(msg.payload.length, 4, 3);
  header[7] = msg.type;
  header.writeUInt32LE(msg.streamId, 8);
  if (extended) header.writeUInt32BE(msg.timestamp, 12);
  const out: Buffer[] = [header];
  for (let off = 0; off < msg.payload.length; off += chunkSize) {
    if (off > 0) {
      const cont = Buffer.alloc(1 + (extended ? 4 : 0));
      cont[0] = 0xc0 | (msg.csid & 0x3f);
      if (extended) cont.writeUInt32BE(msg.timestamp, 1);
      out.push(cont);
    }
    out.push(msg.payload.subarray(off, off + chunkSize));
  }
  return Buffer.concat(out);
}
