// Builds MPEG-TS segments in code, byte by byte, for the probe's tests and fuzzers: a PAT, a PMT, H.264
// PES packets carrying a chosen SPS, and ADTS audio. No FFmpeg, so a test can craft what FFmpeg never writes
// (a hostile SPS) and build thousands of variants quickly. The slice data is filler: nothing here decodes.

import { TS_PACKET_SIZE } from './mpegts.ts';

/** Writes bits MSB first, with the H.264 Exp-Golomb codes (§9.1). */
export class BitWriter {
  private readonly bits: number[] = [];

  u(n: number, value: number): this {
    for (let i = n - 1; i >= 0; i--) this.bits.push(Math.floor(value / 2 ** i) % 2);
    return this;
  }

  ue(value: number): this {
    const len = Math.floor(Math.log2(value + 1));
    return this.u(len, 0).u(len + 1, value + 1);
  }

  se(value: number): this {
    return this.ue(value > 0 ? 2 * value - 1 : -2 * value);
  }

  /** A run of `n` one-bits (each is se(v) = 0), for crafting long inputs cheaply. */
  ones(n: number): this {
    for (let i = 0; i < n; i++) this.bits.push(1);
    return this;
  }

  /** rbsp_trailing_bits, then the bytes. */
  bytes(): Uint8Array {
    const bits = [...this.bits, 1];
    while (bits.length % 8) bits.push(0);
    const out = new Uint8Array(bits.length / 8);
    for (let i = 0; i < bits.length; i++) out[i >> 3]! |= bits[i]! << (7 - (i & 7));
    return out;
  }
}

export interface SpsFields {
  profileIdc?: number;
  levelIdc?: number;
  width?: number;
  height?: number;
  /** High profiles: write a scaling matrix with every list present. */
  scalingLists?: boolean;
  pocType?: 0 | 1 | 2;
}

/** An SPS RBSP (after the NAL header byte) for a progressive 4:2:0 8-bit picture of width × height. */
export function spsRbsp(f: SpsFields = {}): BitWriter {
  const profileIdc = f.profileIdc ?? 66;
  const width = f.width ?? 640;
  const height = f.height ?? 360;
  const w = new BitWriter().u(8, profileIdc).u(8, 0xc0).u(8, f.levelIdc ?? 30).ue(0);
  if (profileIdc === 100) {
    w.ue(1).ue(0).ue(0).u(1, 0).u(1, f.scalingLists ? 1 : 0);
    if (f.scalingLists) for (let i = 0; i < 8; i++) w.u(1, 1).se(i).ones((i < 6 ? 16 : 64) - 1);
  }
  w.ue(0); // log2_max_frame_num_minus4
  const pocType = f.pocType ?? 2;
  w.ue(pocType);
  if (pocType === 0) w.ue(2);
  else if (pocType === 1) w.u(1, 0).se(0).se(0).ue(2).se(1).se(1);
  w.ue(1).u(1, 0);
  const mbsW = Math.ceil(width / 16);
  const mbsH = Math.ceil(height / 16);
  w.ue(mbsW - 1).ue(mbsH - 1).u(1, 1).u(1, 1);
  const cropRight = (mbsW * 16 - width) / 2;
  const cropBottom = (mbsH * 16 - height) / 2;
  if (cropRight || cropBottom) w.u(1, 1).ue(0).ue(cropRight).ue(0).ue(cropBottom);
  else w.u(1, 0);
  return w.u(1, 0); // vui_parameters_present_flag
}

/** Inserts emulation-prevention bytes, as an encoder does, and prefixes the NAL header byte. */
export function nalUnit(type: number, rbsp: Uint8Array): Uint8Array {
  const out: number[] = [0x60 | type];
  let zeros = 0;
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

const START_CODE = [0, 0, 0, 1];
export const VIDEO_PID = 0x100;
export const AUDIO_PID = 0x101;
const PMT_PID = 0x1000;

export interface SegmentFields {
  /** The SPS NAL (with its header byte) that starts the first access unit. */
  sps?: Uint8Array;
  frames?: number;
  fps?: number;
  audio?: boolean;
  /** Filler bytes of slice data per frame. */
  sliceBytes?: number;
}

function packets(pid: number, payload: Uint8Array, counter: { n: number }): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0, first = true; first || at < payload.length; first = false) {
    const pkt = new Uint8Array(TS_PACKET_SIZE);
    const chunk = Math.min(TS_PACKET_SIZE - 4, payload.length - at);
    const stuffing = TS_PACKET_SIZE - 4 - chunk;
    pkt[0] = 0x47;
    pkt[1] = (first ? 0x40 : 0) | (pid >> 8);
    pkt[2] = pid & 0xff;
    pkt[3] = (stuffing > 0 ? 0x30 : 0x10) | (counter.n++ & 0x0f);
    let p = 4;
    if (stuffing > 0) {
      pkt[4] = stuffing - 1;
      if (stuffing > 1) pkt[5] = 0;
      for (let i = 6; i < 4 + stuffing; i++) pkt[i] = 0xff;
      p = 4 + stuffing;
    }
    pkt.set(payload.subarray(at, at + chunk), p);
    at += chunk;
    out.push(pkt);
  }
  return out;
}

function section(tableId: number, body: number[]): Uint8Array {
  const length = 5 + body.length + 4; // header after length, body, CRC (not checked by the probe)
  return Uint8Array.from([0, tableId, 0xb0 | (length >> 8), length & 0xff, 0, 1, 0xc1, 0, 0, ...body, 0, 0, 0, 0]);
}

function pes(streamId: number, pts: number, data: Uint8Array): Uint8Array {
  const header = [0, 0, 1, streamId, 0, 0, 0x80, 0x80, 5];
  const p = [0x21 | ((Math.floor(pts / 2 ** 30) & 7) << 1), (Math.floor(pts / 2 ** 22) & 0xff), 0x01 | ((Math.floor(pts / 2 ** 15) & 0x7f) << 1), (Math.floor(pts / 2 ** 7) & 0xff), 0x01 | ((pts & 0x7f) << 1)];
  const out = new Uint8Array(header.length + 5 + data.length);
  out.set(header);
  out.set(p, header.length);
  out.set(data, header.length + 5);
  return out;
}

/** A whole segment: PAT, PMT, then `frames` video PES (the first with the SPS) and, optionally, ADTS audio. */
export function syntheticSegment(f: SegmentFields = {}): Buffer {
  const frames = f.frames ?? 30;
  const fps = f.fps ?? 30;
  const sps = f.sps ?? nalUnit(7, spsRbsp().bytes());
  const pmtBody = [0xe0 | (VIDEO_PID >> 8), VIDEO_PID & 0xff, 0xf0, 0, 0x1b, 0xe0 | (VIDEO_PID >> 8), VIDEO_PID & 0xff, 0xf0, 0];
  if (f.audio ?? true) pmtBody.push(0x0f, 0xe0 | (AUDIO_PID >> 8), AUDIO_PID & 0xff, 0xf0, 0);
  const counters = new Map<number, { n: number }>();
  const counter = (pid: number) => counters.get(pid) ?? counters.set(pid, { n: 0 }).get(pid)!;
  const out: Uint8Array[] = [
    ...packets(0, section(0x00, [0, 1, 0xe0 | (PMT_PID >> 8), PMT_PID & 0xff]), counter(0)),
    ...packets(PMT_PID, section(0x02, pmtBody), counter(PMT_PID)),
  ];
  const slice = new Uint8Array(f.sliceBytes ?? 300).fill(0x5a);
  for (let i = 0; i < frames; i++) {
    const pts = 90_000 + Math.round((i * 90_000) / fps);
    const aud = [...START_CODE, 0x09, 0xf0];
    const au = i === 0 ? [...aud, ...START_CODE, ...sps, ...START_CODE, 0x68, 0xce, 0x38, 0x80] : aud;
    const data = Uint8Array.from([...au, ...START_CODE, i === 0 ? 0x65 : 0x41, ...slice]);
    out.push(...packets(VIDEO_PID, pes(0xe0, pts, data), counter(VIDEO_PID)));
    if ((f.audio ?? true) && i % 2 === 0) {
      // ADTS: AAC-LC (profile 1), 48 kHz, stereo, one raw block of filler.
      const adts = Uint8Array.from([0xff, 0xf1, 0x4c, 0x80, 0x02, 0x1f, 0xfc, ...new Array(9).fill(0x21)]);
      out.push(...packets(AUDIO_PID, pes(0xc0, pts, adts), counter(AUDIO_PID)));
    }
  }
  return Buffer.concat(out);
}
