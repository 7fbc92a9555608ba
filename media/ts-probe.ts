// Describes an MPEG-TS segment without spawning anything: stream types from the PAT/PMT, resolution and
// codec string from the H.264 SPS, AAC profile from the ADTS header, frame rate and duration from PES
// timestamps. The broadcaster runs it once per publication on the first segment.

import { CastnetError } from '../protocol/errors.ts';
import { parseSps, spsCodecString } from './h264-sps.ts';
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
}

const STREAM_TYPE_AAC = 0x0f;
const COMMON_RATES = [23.976, 24, 25, 29.97, 30, 48, 50, 59.94, 60];

/** RTMP timestamps are whole milliseconds, so measured rates wobble (29.995): snap to a common rate. */
function snapRate(measured: number): number {
  const nearest = COMMON_RATES.reduce((best, r) => (Math.abs(r - measured) < Math.abs(best - measured) ? r : best));
  return Math.abs(nearest - measured) / nearest < 0.005 ? nearest : Math.round(measured * 1000) / 1000;
}
const STREAM_TYPE_H264 = 0x1b;
/** Video stream types other than H.264 (ISO/IEC 13818-1 table 2-34), named so a refusal says what was sent. */
const OTHER_VIDEO: ReadonlyMap<number, string> = new Map([[0x01, 'MPEG-1'], [0x02, 'MPEG-2'], [0x10, 'MPEG-4 Part 2'], [0x24, 'H.265/HEVC'], [0x33, 'H.266/VVC']]);

interface Pes {
  pts: number | null;
  data: Buffer[];
}

function readPts(b: Buffer, at: number): number {
  return (b[at]! & 0x0e) * 536870912 + b[at + 1]! * 4194304 + (b[at + 2]! >> 1) * 32768 + b[at + 3]! * 128 + (b[at + 4]! >> 1);
}

export function probeTs(bytes: Buffer): MediaInfo {
  assertMpegTs(bytes);
  let pmtPid = -1;
  const streamTypes = new Map<number, number>();
  const pes = new Map<number, Pes[]>();

  for (let off = 0; off < bytes.length; off += TS_PACKET_SIZE) {
    const pid = ((bytes[off + 1]! & 0x1f) << 8) | bytes[off + 2]!;
    const start = (bytes[off + 1]! & 0x40) !== 0;
    const afc = (bytes[off + 3]! >> 4) & 3;
    if (!(afc & 1)) continue; // no payload
    let p = off + 4 + (afc & 2 ? 1 + bytes[off + 4]! : 0);
    const end = off + TS_PACKET_SIZE;
    if (p >= end) continue;
    if (pid === 0 && start) {
      p += 1 + bytes[p]!; // pointer field
      const sectionEnd = Math.min(end, p + 3 + (((bytes[p + 1]! & 0x0f) << 8) | bytes[p + 2]!) - 4);
      for (let q = p + 8; q + 4 <= sectionEnd; q += 4) {
        const program = (bytes[q]! << 8) | bytes[q + 1]!;
        if (program !== 0) pmtPid = ((bytes[q + 2]! & 0x1f) << 8) | bytes[q + 3]!;
      }
    } else if (pid === pmtPid && start) {
      p += 1 + bytes[p]!;
      const sectionEnd = Math.min(end, p + 3 + (((bytes[p + 1]! & 0x0f) << 8) | bytes[p + 2]!) - 4);
      const programInfoLength = ((bytes[p + 10]! & 0x0f) << 8) | bytes[p + 11]!;
      for (let q = p + 12 + programInfoLength; q + 5 <= sectionEnd; ) {
        streamTypes.set(((bytes[q + 1]! & 0x1f) << 8) | bytes[q + 2]!, bytes[q]!);
        q += 5 + (((bytes[q + 3]! & 0x0f) << 8) | bytes[q + 4]!);
      }
    } else if (streamTypes.has(pid)) {
      const list = pes.get(pid) ?? [];
      pes.set(pid, list);
      if (start && bytes[p] === 0 && bytes[p + 1] === 0 && bytes[p + 2] === 1) {
        const hasPts = (bytes[p + 7]! & 0x80) !== 0;
        const headerLength = bytes[p + 8]!;
        list.push({ pts: hasPts ? readPts(bytes, p + 9) : null, data: [bytes.subarray(p + 9 + headerLength, end)] });
      } else {
        list.at(-1)?.data.push(bytes.subarray(p, end));
      }
    }
  }

  const videoPid = [...streamTypes].find(([, t]) => t === STREAM_TYPE_H264)?.[0];
  const audioPid = [...streamTypes].find(([, t]) => t === STREAM_TYPE_AAC)?.[0];
  const video = videoPid === undefined ? [] : (pes.get(videoPid) ?? []);
  if (video.length === 0) {
    const other = [...streamTypes.values()].map((t) => OTHER_VIDEO.get(t)).find((name) => name !== undefined);
    throw new CastnetError('INVALID_SEGMENT', other ? `segment's video is ${other}, not H.264: stream H.264 (x264)` : 'segment has no H.264 video stream');
  }

  let sps = null;
  for (const packet of video) {
    const es = Buffer.concat(packet.data);
    for (let i = es.indexOf(Buffer.from([0, 0, 1])); i >= 0 && i + 3 < es.length; i = es.indexOf(Buffer.from([0, 0, 1]), i + 3)) {
      if ((es[i + 3]! & 0x1f) === 7) {
        const next = es.indexOf(Buffer.from([0, 0, 1]), i + 3);
        sps = parseSps(es.subarray(i + 3, next < 0 ? es.length : next));
        break;
      }
    }
    if (sps) break;
  }
  if (!sps) throw new CastnetError('INVALID_SEGMENT', 'segment has no H.264 sequence parameter set (does it start at a keyframe?)');

  const pts = video.map((v) => v.pts).filter((v): v is number => v !== null).sort((a, b) => a - b);
  const span = pts.length > 1 ? (pts.at(-1)! - pts[0]!) / 90_000 : 0;
  const fps = span > 0 ? snapRate((pts.length - 1) / span) : 0;
  const duration = fps > 0 ? span + 1 / fps : 0;

  let audioCodec: string | null = null;
  let audioCodecString = '';
  const firstAudio = audioPid === undefined ? undefined : pes.get(audioPid)?.[0];
  if (firstAudio) {
    audioCodec = 'aac';
    const adts = Buffer.concat(firstAudio.data);
    // ADTS profile is the AAC object type minus one: 1 → AAC-LC (mp4a.40.2).
    audioCodecString = adts[0] === 0xff && (adts[1]! & 0xf0) === 0xf0 ? `mp4a.40.${(adts[2]! >> 6) + 1}` : 'mp4a.40.2';
  }

  return {
    width: sps.width,
    height: sps.height,
    fps,
    videoCodec: 'h264',
    profileIdc: sps.profileIdc,
    chromaFormat: sps.chromaFormatIdc,
    bitDepth: sps.bitDepth,
    audioCodec,
    codecs: [spsCodecString(sps), audioCodecString].filter(Boolean).join(','),
    duration,
    bitrate: duration > 0 ? Math.round((bytes.length * 8) / duration) : 0,
    frames: video.length,
  };
}
