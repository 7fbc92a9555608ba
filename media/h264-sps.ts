// Reads what HLS needs from an H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1): profile, constraint
// flags and level (the RFC 6381 `avc1.PPCCLL` string), and the displayed width and height after cropping.

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

/** Exp-Golomb bit reader over a NAL unit payload with emulation-prevention bytes removed. */
class BitReader {
  private bit = 0;
  private readonly data: Uint8Array;

  constructor(data: Uint8Array) {
    this.data = data;
  }

  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.data[this.bit >> 3];
      if (byte === undefined) throw new Error('SPS: ran past the end');
      v = (v << 1) | ((byte >> (7 - (this.bit & 7))) & 1);
      this.bit++;
    }
    return v >>> 0;
  }

  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) {
      zeros++;
      if (zeros > 31) throw new Error('SPS: malformed Exp-Golomb code');
    }
    return zeros === 0 ? 0 : 2 ** zeros - 1 + this.u(zeros);
  }

  se(): number {
    const k = this.ue();
    return k & 1 ? (k + 1) / 2 : -(k / 2);
  }
}

function unescape(nal: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < nal.length; i++) {
    if (i >= 2 && nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) continue;
    out.push(nal[i]!);
  }
  return Uint8Array.from(out);
}

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** `nal` starts at the NAL header byte (type 7). */
export function parseSps(nal: Uint8Array): SpsInfo {
  const r = new BitReader(unescape(nal.subarray(1)));
  const profileIdc = r.u(8);
  const constraintFlags = r.u(8);
  const levelIdc = r.u(8);
  r.ue(); // seq_parameter_set_id
  let chromaFormatIdc = 1;
  let bitDepth = 8;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc === 3) r.u(1); // separate_colour_plane_flag
    bitDepth = 8 + r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.u(1); // qpprime_y_zero_transform_bypass_flag
    if (r.u(1)) {
      for (let i = 0; i < (chromaFormatIdc === 3 ? 12 : 8); i++) if (r.u(1)) skipScalingList(r, i < 6 ? 16 : 64);
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) {
    r.ue();
  } else if (pocType === 1) {
    r.u(1);
    r.se();
    r.se();
    const cycles = r.ue();
    for (let i = 0; i < cycles; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.u(1); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.u(1);
  if (!frameMbsOnly) r.u(1); // mb_adaptive_frame_field_flag
  r.u(1); // direct_8x8_inference_flag
  let [cropLeft, cropRight, cropTop, cropBottom] = [0, 0, 0, 0];
  if (r.u(1)) [cropLeft, cropRight, cropTop, cropBottom] = [r.ue(), r.ue(), r.ue(), r.ue()];
  const subWidthC = chromaFormatIdc === 1 || chromaFormatIdc === 2 ? 2 : 1;
  const subHeightC = chromaFormatIdc === 1 ? 2 : 1;
  const cropUnitX = chromaFormatIdc === 0 ? 1 : subWidthC;
  const cropUnitY = (chromaFormatIdc === 0 ? 1 : subHeightC) * (2 - frameMbsOnly);
  return {
    profileIdc,
    constraintFlags,
    levelIdc,
    chromaFormatIdc,
    bitDepth,
    width: widthMbs * 16 - cropUnitX * (cropLeft + cropRight),
    height: (2 - frameMbsOnly) * heightMapUnits * 16 - cropUnitY * (cropTop + cropBottom),
  };
}

export function spsCodecString(sps: SpsInfo): string {
  return `avc1.${[sps.profileIdc, sps.constraintFlags, sps.levelIdc].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}
