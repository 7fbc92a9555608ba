// Rebuilds an FLV byte stream from RTMP messages (FLV spec v10.1, annex E), to feed FFmpeg's FLV demuxer.
// Hot path: one call per audio/video message; only the 11-byte tag header and 4-byte trailer are allocated.

import { encodeAmf0, decodeAmf0 } from './rtmp/amf0.ts';

const TAG_AUDIO = 8;
const TAG_VIDEO = 9;
const TAG_SCRIPT = 18;

export class FlvWriter {
  private headerWritten = false;
  private readonly write: (chunk: Buffer) => void;
  private hasAudio = true;
  private hasVideo = true;

  constructor(write: (chunk: Buffer) => void) {
    this.write = write;
  }

  /** `onMetaData` as AMF0 (name then object). Sets the header's audio/video flags when it comes first. */
  metadata(amf0: Buffer): void {
    try {
      const [, meta] = decodeAmf0(amf0) as [unknown, Record<string, unknown> | undefined];
      if (meta && !this.headerWritten) {
        // Without these flags FFmpeg waits out its probe window for a stream that never comes.
        if ('audiocodecid' in meta || 'videocodecid' in meta) {
          this.hasAudio = 'audiocodecid' in meta && meta.audiocodecid !== 0 && meta.audiocodecid !== '';
          this.hasVideo = 'videocodecid' in meta;
        }
      }
      this.tag(TAG_SCRIPT, 0, encodeAmf0('onMetaData', (meta ?? {}) as Record<string, never>));
    } catch {
      // Metadata is advisory; a malformed one is dropped rather than ending the stream.
    }
  }

  audio(timestamp: number, payload: Buffer): void {
    this.tag(TAG_AUDIO, timestamp, payload);
  }

  video(timestamp: number, payload: Buffer): void {
    this.tag(TAG_VIDEO, timestamp, payload);
  }

  private tag(type: number, timestamp: number, payload: Buffer): void {
    if (!this.headerWritten) {
      this.headerWritten = true;
      const header = Buffer.from([0x46, 0x4c, 0x56, 1, (this.hasAudio ? 4 : 0) | (this.hasVideo ? 1 : 0), 0, 0, 0, 9, 0, 0, 0, 0]);
      this.write(header);
    }
    const head = Buffer.alloc(11);
    head[0] = type;
    head.writeUIntBE(payload.length, 1, 3);
    head.writeUIntBE(timestamp & 0xffffff, 4, 3);
    head[7] = (timestamp >>> 24) & 0xff;
    this.write(head);
    this.write(payload);
    const trailer = Buffer.alloc(4);
    trailer.writeUInt32BE(payload.length + 11);
    this.write(trailer);
  }
}
