// Describes an MPEG-TS segment without spawning anything: stream types from the PAT/PMT, resolution and
// codec string from the H.264 SPS, AAC profile from the ADTS header, frame rate and duration from PES
// timestamps. Runs on hostile bytes (a sender's segment at the transcoder, a transcoder's rendition at the
// broadcaster): one pass over the packets with fixed-size buffers, limits in PROBE_LIMITS, and every
// malformed input refused with INVALID_SEGMENT. Hot path: per source segment and per rendition.

import { CastnetError } from '../protocol/errors.ts';
import { parseSps, spsCodecString, type SpsInfo, type SpsWork } from './h264-sps.ts';
import { TS_PACKET_SIZE, assertMpegTs } from './mpegts.ts';

export interface MediaInfo {
  width: number;
  height: number;
  fps: number;
  videoCodec: string;
  /** H.264 profile_idc (66 Baseline, 77 Main, 100 High, 110 High 10, 122 High 4:2:2, 244 High 4:4:4). */
  profileIdc: number;
  /** chroma_format_idc: 1 is 4:2:0, 2 is 4:2:2, 3 is 4:4:4. */
  chromaFormat: number;
  /** Luma bits per sample. */
  bitDepth: number;
  audioCodec: string | null;
  /** RFC 6381, e.g. `avc1.64001f,mp4a.40.2`. */
  codecs: string;
  duration: number;
  /** Bits per second over the whole segment. */
  bitrate: number;
  frames: number;
  /** The first video presentation timestamp, in 90 kHz ticks (33 bits); null without one. */
  firstPts: number | null;
}

const STREAM_TYPE_AAC = 0x0f;
const COMMON_RATES = [23.976, 24, 25, 29.97, 30, 48, 50, 59.94, 60];

/** RTMP timestamps are whole milliseconds, so measured rates wobble (29.995): snap to a common rate. */
function snapRate(measured: number): number {
  const nearest = COMMON_RATES.reduce((best, r) => (Math.abs(r - measured) < Math.abs(best - measured) ? r : best));
  return Math.abs(nearest - measured) / nearest < 0.005 ? nearest : Math.round(measured * 1000) / 1000;
}
/**
 * The frame rate from sorted presentation times: frames over the time between them, leaving out intervals
 * far from the median (under half or over 1.5 times it), so that one odd interval does not move the rate
 * off a common one: a dropped frame (a double interval), or the first frame of a low-latency stream, which
 * the CMAF cutter stretches back to the segment's start (the AAC priming, 21 ms: 29.68 fps measured over
 * the whole span of a 30 fps segment, which gave its renditions an extra keyframe). Never under frames over
 * the whole span, though: the price is duration × rate, and crafted intervals must not bring it under the
 * segment's frame count.
 */
function frameRate(pts: number[], span: number): number {
  if (span <= 0) return 0;
  const intervals = pts.slice(1).map((p, i) => p - pts[i]!).sort((a, b) => a - b);
  const median = intervals[intervals.length >> 1]!;
  const kept = intervals.filter((d) => d >= median / 2 && d <= median * 1.5);
  const total = kept.reduce((t, d) => t + d, 0);
  const overall = (pts.length - 1) / span;
  return snapRate(total > 0 ? Math.max((kept.length * 90_000) / total, overall) : overall);
}

const STREAM_TYPE_H264 = 0x1b;
/** Video stream types other than H.264 (ISO/IEC 13818-1 table 2-34), named so a refusal says what was sent. */
const OTHER_VIDEO: ReadonlyMap<number, string> = new Map([[0x01, 'MPEG-1'], [0x02, 'MPEG-2'], [0x10, 'MPEG-4 Part 2'], [0x24, 'H.265/HEVC'], [0x33, 'H.266/VVC']]);

/**
 * Bounds on the walk. Every loop below is over packets (at most MAX_PROBE_BYTES / 188), over one packet's
 * bytes, or over a fixed-size buffer; nothing is concatenated per PES.
 */
export const PROBE_LIMITS = {
  /** The transcoder's default --max-segment-bytes: larger input is refused, not scanned. */
  maxBytes: 64 * 1024 * 1024,
  /**
   * Bytes kept from the start of each video PES while no SPS has been found. Encoders put the SPS at the
   * head of a keyframe's access unit, after at most an access unit delimiter.
   */
  pesHeadBytes: 4096,
  /** Bytes kept from the start of the first audio PES: one ADTS header. */
  adtsHeaderBytes: 7,
} as const;

/** What a probe cost: packets walked and SPS bytes and bits read. Added to, never reset. */
export interface ProbeWork extends SpsWork {
  packets: number;
}

function invalid(message: string): CastnetError {
  return new CastnetError('INVALID_SEGMENT', message, { reason: 'malformed_ts' });
}

/** A fixed-size buffer filled from the start of one PES across its packets. */
class PesHead {
  readonly bytes: Uint8Array;
  length = 0;
  searched = false;

  get full(): boolean {
    return this.length === this.bytes.length;
  }

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }

  append(from: Uint8Array, start: number, end: number): void {
    const n = Math.min(end - start, this.bytes.length - this.length);
    if (n <= 0) return;
    this.bytes.set(from.subarray(start, start + n), this.length);
    this.length += n;
  }
}

function readPts(b: Uint8Array, at: number): number {
  return (b[at]! & 0x0e) * 536870912 + b[at + 1]! * 4194304 + (b[at + 2]! >> 1) * 32768 + b[at + 3]! * 128 + (b[at + 4]! >> 1);
}

/** The first SPS NAL in `es` (Annex B start codes), parsed; null when there is none. */
function findSps(es: Uint8Array, length: number, work?: SpsWork): SpsInfo | null {
  for (let i = 0; i + 3 < length; i++) {
    if (es[i] !== 0 || es[i + 1] !== 0 || es[i + 2] !== 1 || (es[i + 3]! & 0x1f) !== 7) continue;
    let end = i + 3;
    while (end + 2 < length && !(es[end] === 0 && es[end + 1] === 0 && es[end + 2] === 1)) end++;
    if (end + 2 >= length) end = length;
    return parseSps(es.subarray(i + 3, end), work);
  }
  return null;
}

/** RFC 6381 string of the AAC in an ADTS header: the profile field is the object type minus one (1 → AAC-LC, mp4a.40.2). */
export function adtsCodecString(header: Uint8Array): string {
  if (header.length < 3 || header[0] !== 0xff || (header[1]! & 0xf0) !== 0xf0) return 'mp4a.40.2';
  return `mp4a.40.${(header[2]! >> 6) + 1}`;
}

/** Throws INVALID_SEGMENT on anything that is not a probe-able H.264 MPEG-TS segment. */
export function probeTs(bytes: Uint8Array, work?: ProbeWork): MediaInfo {
  if (bytes.length > PROBE_LIMITS.maxBytes) throw invalid(`segment is ${bytes.length} bytes, more than the ${PROBE_LIMITS.maxBytes} a probe reads`);
  assertMpegTs(bytes);
  let pmtPid = -1;
  let videoPid = -1;
  let audioPid = -1;
  let otherVideo: string | undefined;
  const pts: number[] = [];
  let frames = 0;
  let sps: SpsInfo | null = null;
  let videoHead: PesHead | null = null;
  let audioHead: PesHead | null = null;
  let audioPes = 0;
  // Searched once per PES: when the next PES starts, when the head is full, or at the end.
  const searchHead = () => {
    if (sps || !videoHead || videoHead.searched) return;
    videoHead.searched = true;
    sps = findSps(videoHead.bytes, videoHead.length, work);
  };

  for (let off = 0; off < bytes.length; off += TS_PACKET_SIZE) {
    if (work) work.packets++;
    const pid = ((bytes[off + 1]! & 0x1f) << 8) | bytes[off + 2]!;
    const start = (bytes[off + 1]! & 0x40) !== 0;
    const afc = (bytes[off + 3]! >> 4) & 3;
    if (!(afc & 1)) continue; // no payload
    let p = off + 4 + (afc & 2 ? 1 + bytes[off + 4]! : 0);
    const end = off + TS_PACKET_SIZE;
    if (p >= end) continue;
    if ((pid === 0 || pid === pmtPid) && start) {
      p += 1 + bytes[p]!; // pointer field
      if (p + 3 > end) continue;
      const sectionEnd = Math.min(end, p + 3 + (((bytes[p + 1]! & 0x0f) << 8) | bytes[p + 2]!) - 4);
      if (pid === 0) {
        for (let q = p + 8; q + 4 <= sectionEnd; q += 4) {
          const program = (bytes[q]! << 8) | bytes[q + 1]!;
          if (program !== 0) pmtPid = ((bytes[q + 2]! & 0x1f) << 8) | bytes[q + 3]!;
        }
      } else {
        if (p + 12 > end) continue;
        const programInfoLength = ((bytes[p + 10]! & 0x0f) << 8) | bytes[p + 11]!;
        for (let q = p + 12 + programInfoLength; q + 5 <= sectionEnd; q += 5 + (((bytes[q + 3]! & 0x0f) << 8) | bytes[q + 4]!)) {
          const type = bytes[q]!;
          const esPid = ((bytes[q + 1]! & 0x1f) << 8) | bytes[q + 2]!;
          if (type === STREAM_TYPE_H264 && videoPid < 0 && esPid !== 0 && esPid !== pmtPid) videoPid = esPid;
          else if (type === STREAM_TYPE_AAC && audioPid < 0 && esPid !== 0 && esPid !== pmtPid) audioPid = esPid;
          else otherVideo ??= OTHER_VIDEO.get(type);
        }
      }
    } else if (pid === videoPid) {
      if (start && p + 9 <= end && bytes[p] === 0 && bytes[p + 1] === 0 && bytes[p + 2] === 1) {
        frames++;
        if ((bytes[p + 7]! & 0x80) !== 0 && p + 14 <= end) pts.push(readPts(bytes, p + 9));
        searchHead();
        if (!sps) {
          videoHead ??= new PesHead(PROBE_LIMITS.pesHeadBytes);
          videoHead.length = 0;
          videoHead.searched = false;
          videoHead.append(bytes, p + 9 + bytes[p + 8]!, end);
          if (videoHead.full) searchHead();
        }
      } else if (!sps && videoHead && !videoHead.searched) {
        videoHead.append(bytes, p, end);
        if (videoHead.full) searchHead();
      }
    } else if (pid === audioPid) {
      if (start && p + 9 <= end && bytes[p] === 0 && bytes[p + 1] === 0 && bytes[p + 2] === 1) {
        audioPes++;
        if (audioPes === 1) {
          audioHead = new PesHead(PROBE_LIMITS.adtsHeaderBytes);
          audioHead.append(bytes, p + 9 + bytes[p + 8]!, end);
        }
      } else if (audioPes === 1) {
        audioHead?.append(bytes, p, end);
      }
    }
  }
  searchHead();

  if (frames === 0) {
    throw new CastnetError('INVALID_SEGMENT', otherVideo ? `segment's video is ${otherVideo}, not H.264: stream H.264 (x264)` : 'segment has no H.264 video stream');
  }
  // The closure assigned it; TypeScript's narrowing does not see that.
  const info = sps as SpsInfo | null;
  if (!info) throw new CastnetError('INVALID_SEGMENT', 'segment has no H.264 sequence parameter set (does it start at a keyframe?)');

  pts.sort((a, b) => a - b);
  const span = pts.length > 1 ? (pts.at(-1)! - pts[0]!) / 90_000 : 0;
  const fps = frameRate(pts, span);
  const duration = fps > 0 ? span + 1 / fps : 0;

  const audio = audioHead as PesHead | null;
  const audioCodec = audio ? 'aac' : null;
  const audioCodecString = audio ? adtsCodecString(audio.bytes.subarray(0, audio.length)) : '';

  return {
    width: info.width,
    height: info.height,
    fps,
    videoCodec: 'h264',
    profileIdc: info.profileIdc,
    chromaFormat: info.chromaFormatIdc,
    bitDepth: info.bitDepth,
    audioCodec,
    codecs: [spsCodecString(info), audioCodecString].filter(Boolean).join(','),
    duration,
    bitrate: duration > 0 ? Math.round((bytes.length * 8) / duration) : 0,
    frames,
    firstPts: pts[0] ?? null,
  };
}
