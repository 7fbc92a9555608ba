// RTMP chunk stream (Adobe RTMP spec §5.3): reassembles messages from interleaved chunks, and splits
// outgoing messages into chunks. Hot path: runs for every audio/video message a publisher sends.

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

interface ChunkState {
  timestamp: number;
  delta: number;
  length: number;
  type: number;
  streamId: number;
  extended: boolean;
  parts: Buffer[];
  received: number;
}

const MESSAGE_HEADER_LENGTH = [11, 7, 3, 0] as const;
/** A bound on one message, far above any real video frame, so a hostile peer cannot make us buffer without end. */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

export class ChunkReader {
  private chunkSize = 128;
  private readonly states = new Map<number, ChunkState>();
  private pending: Buffer | null = null;

  /** Consumes bytes; returns every message they complete. Throws on a protocol violation. */
  push(data: Buffer): RtmpMessage[] {
    const buf = this.pending ? Buffer.concat([this.pending, data]) : data;
    this.pending = null;
    const messages: RtmpMessage[] = [];
    let off = 0;
    while (off < buf.length) {
      const b0 = buf[off]!;
      const fmt = b0 >> 6;
      let csid = b0 & 0x3f;
      let p = off + 1;
      if (csid === 0) {
        if (buf.length < p + 1) break;
        csid = buf[p]! + 64;
        p += 1;
      } else if (csid === 1) {
        if (buf.length < p + 2) break;
        csid = buf[p]! + buf[p + 1]! * 256 + 64;
        p += 2;
      }
      const headerLength = MESSAGE_HEADER_LENGTH[fmt as 0 | 1 | 2 | 3];
      if (buf.length < p + headerLength) break;
      let state = this.states.get(csid);
      if (!state) {
        if (fmt !== 0) throw new Error(`RTMP: chunk stream ${csid} starts without a type-0 header`);
        state = { timestamp: 0, delta: 0, length: 0, type: 0, streamId: 0, extended: false, parts: [], received: 0 };
        this.states.set(csid, state);
      }
      let tsField = 0;
      let length = state.length;
      let type = state.type;
      let streamId = state.streamId;
      if (fmt <= 2) tsField = buf.readUIntBE(p, 3);
      if (fmt <= 1) {
        length = buf.readUIntBE(p + 3, 3);
        type = buf[p + 6]!;
      }
      if (fmt === 0) streamId = buf.readUInt32LE(p + 7);
      p += headerLength;
      const extended = fmt <= 2 ? tsField === 0xffffff : state.extended;
      if (extended) {
        if (buf.length < p + 4) break;
        tsField = buf.readUInt32BE(p);
        p += 4;
      }
      const startsMessage = state.received === 0;
      if (!startsMessage && fmt !== 3) {
        // A new header mid-message: the peer abandoned the old message.
        state.parts = [];
        state.received = 0;
      }
      if (length > MAX_MESSAGE_BYTES) throw new Error(`RTMP: message of ${length} bytes exceeds the limit`);
      const chunkLength = Math.min(this.chunkSize, length - state.received);
      if (buf.length < p + chunkLength) break;

      // The whole chunk is here: commit its header.
      if (state.received === 0) {
        if (fmt === 0) {
          state.timestamp = tsField;
          state.delta = tsField;
        } else if (fmt === 1 || fmt === 2) {
          state.delta = tsField;
          state.timestamp = (state.timestamp + tsField) >>> 0;
        } else {
          state.timestamp = (state.timestamp + state.delta) >>> 0;
        }
      }
      state.length = length;
      state.type = type;
      state.streamId = streamId;
      state.extended = extended;
      if (chunkLength > 0) state.parts.push(buf.subarray(p, p + chunkLength));
      state.received += chunkLength;
      off = p + chunkLength;

      if (state.received >= state.length) {
        const payload = state.parts.length === 1 ? state.parts[0]! : Buffer.concat(state.parts, state.length);
        state.parts = [];
        state.received = 0;
        if (state.type === MessageType.SetChunkSize) {
          const size = payload.readUInt32BE(0) & 0x7fffffff;
          if (size < 1) throw new Error('RTMP: invalid chunk size');
          this.chunkSize = size;
        } else if (state.type === MessageType.Abort) {
          const target = this.states.get(payload.readUInt32BE(0));
          if (target) {
            target.parts = [];
            target.received = 0;
          }
        }
        messages.push({ csid, type: state.type, streamId: state.streamId, timestamp: state.timestamp, payload });
      }
    }
    if (off < buf.length) this.pending = buf.subarray(off);
    return messages;
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
