// Reads what HLS needs from an H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1): profile, constraint
// flags and level (the RFC 6381 `avc1.PPCCLL` string), and the displayed width and height after cropping.
// Input is hostile (a sender's segment, a transcoder's rendition): at most MAX_SPS_BYTES are examined, every
// count read from the bitstream is checked against its range in the standard before it drives a loop, and
// the parse stops after the cropping window (the VUI that follows is never read).

import { CastnetError } from '../protocol/errors.ts';

export interface SpsInfo {
  profileIdc: number;
  constraintFlags: number;
  levelIdc: number;
  /** 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4 (1 unless a High-family profile says otherwise). */
  chromaFormatIdc: number;
  /** Luma bits per sample (8 unless a High-family profile says otherwise). */
  bitDepth: number;
  width: number;
  height: number;
}

/** What a parse cost, for callers (and tests) that bound or watch it; added to, never reset. */
export interface SpsWork {
  /** NAL bytes copied out of the stream (emulation prevention removed). */
  spsBytes: number;
  /** Bits read from them. */
  spsBits: number;
}

/**
 * NAL bytes examined. The longest SPS this parser reads (High 4:4:4 with all twelve scaling lists, each
 * delta_scale at its 17-bit worst) is about 1,030 bytes before the VUI; 2 KiB leaves room for emulation
 * prevention bytes. A longer NAL is read only this far.
 */
export const MAX_SPS_BYTES = 2048;
/** An Exp-Golomb code with this many leading zeros would not fit 32 bits: refused (§9.1 codes here are ≤ 32 bits). */
const MAX_EXP_GOLOMB_ZEROS = 31;
/** Level 6.2's MaxFS is 139,264 macroblocks; a side can be at most sqrt(8 × MaxFS) ≈ 1,055 of them (Annex A.3.1). */
const MAX_SIDE_MBS = 1055;

function invalid(message: string): CastnetError {
  return new CastnetError('INVALID_SEGMENT', `H.264 SPS: ${message}`, { reason: 'malformed_sps' });
}

/** Exp-Golomb bit reader over a NAL unit payload with emulation-prevention bytes removed. */
class BitReader {
  private bit = 0;
  private readonly data: Uint8Array;

  constructor(data: Uint8Array) {
    this.data = data;
  }

  get bitsRead(): number {
    return this.bit;
  }

  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.data[this.bit >> 3];
      if (byte === undefined) throw invalid('ran past the end');
      v = (v << 1) | ((byte >> (7 - (this.bit & 7))) & 1);
      this.bit++;
    }
    return v >>> 0;
  }

  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) {
      zeros++;
      if (zeros > MAX_EXP_GOLOMB_ZEROS) throw invalid('Exp-Golomb code longer than 32 bits');
    }
    return zeros === 0 ? 0 : 2 ** zeros - 1 + this.u(zeros);
  }

  se(): number {
    const k = this.ue();
    return k & 1 ? (k + 1) / 2 : -(k / 2);
  }

  /** ue(v) that must lie in [0, max] (the range the standard gives the syntax element). */
  ueMax(name: string, max: number): number {
    const v = this.ue();
    if (v > max) throw invalid(`${name} is ${v}, above its limit ${max}`);
    return v;
  }
}

/** Removes emulation-prevention bytes (00 00 03 → 00 00) from at most MAX_SPS_BYTES of `nal`. */
function unescape(nal: Uint8Array): Uint8Array {
  const n = Math.min(nal.length, MAX_SPS_BYTES);
  const out = new Uint8Array(n);
  let o = 0;
  let zeros = 0;
  for (let i = 0; i < n; i++) {
    const b = nal[i]!;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    zeros = b === 0 ? zeros + 1 : 0;
    out[o++] = b;
  }
  return out.subarray(0, o);
}

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) {
      const delta = r.se();
      if (delta < -128 || delta > 127) throw invalid(`delta_scale ${delta} is outside −128..127`);
      next = (last + delta + 256) % 256;
    }
    last = next === 0 ? last : next;
  }
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** `nal` starts at the NAL header byte (type 7). Throws INVALID_SEGMENT on a malformed or out-of-range SPS. */
export function parseSps(nal: Uint8Array, work?: SpsWork): SpsInfo {
  const rbsp = unescape(nal.subarray(1));
  const r = new BitReader(rbsp);
  try {
    return readSps(r);
  } finally {
    if (work) {
      work.spsBytes += rbsp.length;
      work.spsBits += r.bitsRead;
    }
  }
}

function readSps(r: BitReader): SpsInfo {
  const profileIdc = r.u(8);
  const constraintFlags = r.u(8);
  const levelIdc = r.u(8);
  r.ueMax('seq_parameter_set_id', 31);
  let chromaFormatIdc = 1;
  let bitDepth = 8;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ueMax('chroma_format_idc', 3);
    if (chromaFormatIdc === 3) r.u(1); // separate_colour_plane_flag
    bitDepth = 8 + r.ueMax('bit_depth_luma_minus8', 6);
    r.ueMax('bit_depth_chroma_minus8', 6);
    r.u(1); // qpprime_y_zero_transform_bypass_flag
    if (r.u(1)) {
      for (let i = 0; i < (chromaFormatIdc === 3 ? 12 : 8); i++) if (r.u(1)) skipScalingList(r, i < 6 ? 16 : 64);
    }
  }
  r.ueMax('log2_max_frame_num_minus4', 12);
  const pocType = r.ueMax('pic_order_cnt_type', 2);
  if (pocType === 0) {
    r.ueMax('log2_max_pic_order_cnt_lsb_minus4', 12);
  } else if (pocType === 1) {
    r.u(1); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const cycle = r.ueMax('num_ref_frames_in_pic_order_cnt_cycle', 255);
    for (let i = 0; i < cycle; i++) r.se();
  }
  r.ueMax('max_num_ref_frames', 16);
  r.u(1); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ueMax('pic_width_in_mbs_minus1', MAX_SIDE_MBS - 1) + 1;
  const heightMapUnits = r.ueMax('pic_height_in_map_units_minus1', MAX_SIDE_MBS - 1) + 1;
  const frameMbsOnly = r.u(1);
  if (!frameMbsOnly) r.u(1); // mb_adaptive_frame_field_flag
  r.u(1); // direct_8x8_inference_flag
  let [cropLeft, cropRight, cropTop, cropBottom] = [0, 0, 0, 0];
  if (r.u(1)) [cropLeft, cropRight, cropTop, cropBottom] = [r.ue(), r.ue(), r.ue(), r.ue()];
  const subWidthC = chromaFormatIdc === 1 || chromaFormatIdc === 2 ? 2 : 1;
  const subHeightC = chromaFormatIdc === 1 ? 2 : 1;
  const cropUnitX = chromaFormatIdc === 0 ? 1 : subWidthC;
  const cropUnitY = (chromaFormatIdc === 0 ? 1 : subHeightC) * (2 - frameMbsOnly);
  const width = widthMbs * 16 - cropUnitX * (cropLeft + cropRight);
  const height = (2 - frameMbsOnly) * heightMapUnits * 16 - cropUnitY * (cropTop + cropBottom);
  if (width <= 0 || height <= 0) throw invalid(`cropping leaves a ${width}x${height} picture`);
  return { profileIdc, constraintFlags, levelIdc, chromaFormatIdc, bitDepth, width, height };
}

export function spsCodecString(sps: SpsInfo): string {
  return `avc1.${[sps.profileIdc, sps.constraintFlags, sps.levelIdc].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}
