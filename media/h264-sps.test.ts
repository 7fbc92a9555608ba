// The SPS parser on SPSs built bit by bit: the fields HLS needs, and hostile ones refused after a bounded
// amount of work whatever their size.

import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { MAX_SPS_BYTES, parseSps, spsCodecString, type SpsWork } from './h264-sps.ts';
import { BitWriter, nalUnit, spsRbsp } from './synthetic-segment.ts';

const work = (): SpsWork => ({ spsBytes: 0, spsBits: 0 });
const malformed = (message: RegExp) => ({ code: 'INVALID_SEGMENT', message, context: { reason: 'malformed_sps' } });

/** An SPS whose POC type 1 cycle claims 2^32 − 2 entries, followed by `ones` one-bits (each a valid se(v) = 0). */
function cycleBomb(ones: number): Uint8Array {
  const w = new BitWriter().u(8, 66).u(8, 0).u(8, 30).ue(0).ue(0).ue(1).u(1, 0).se(0).se(0).ue(2 ** 32 - 2).ones(ones);
  return nalUnit(7, w.bytes());
}

describe('H.264 SPS parser', () => {
  it('reads profile, level and the cropped size of a Baseline SPS', () => {
    const sps = parseSps(nalUnit(7, spsRbsp({ width: 640, height: 360 }).bytes()));
    assert.deepEqual([sps.width, sps.height, sps.chromaFormatIdc, sps.bitDepth], [640, 360, 1, 8]);
    assert.equal(spsCodecString(sps), 'avc1.42c01e');
  });

  it('skips every scaling list of a High SPS and still reads the size after them', () => {
    for (const pocType of [0, 1, 2] as const) {
      const sps = parseSps(nalUnit(7, spsRbsp({ profileIdc: 100, scalingLists: true, width: 1280, height: 720, pocType }).bytes()));
      assert.deepEqual([sps.profileIdc, sps.width, sps.height], [100, 1280, 720]);
    }
  });

  it('refuses a POC cycle count above 255 before reading any of it, whatever follows', () => {
    const small = work();
    const large = work();
    assert.throws(() => parseSps(cycleBomb(64 * 1024), small), malformed(/num_ref_frames_in_pic_order_cnt_cycle is 4294967294, above its limit 255/));
    assert.throws(() => parseSps(cycleBomb(8 * 1024 * 1024), large), malformed(/num_ref_frames_in_pic_order_cnt_cycle/));
    assert.deepEqual(large, small, 'a megabyte of input costs what 8 KiB does');
    assert.ok(large.spsBits < 128, `read ${large.spsBits} bits`);
  });

  it('refuses an Exp-Golomb code with 32 leading zeros', () => {
    const w = new BitWriter().u(8, 66).u(8, 0).u(8, 30).u(32, 0).ones(64);
    assert.throws(() => parseSps(nalUnit(7, w.bytes())), malformed(/Exp-Golomb code longer than 32 bits/));
  });

  it('examines at most MAX_SPS_BYTES of a NAL however long it is', () => {
    const w = work();
    const huge = new Uint8Array(4 * 1024 * 1024).fill(0xff);
    huge[0] = 0x67;
    assert.equal(parseSps(huge, w).profileIdc, 0xff);
    assert.equal(w.spsBytes, MAX_SPS_BYTES);
  });

  it('refuses out-of-range counts and sizes from the bitstream', () => {
    const base = () => new BitWriter().u(8, 66).u(8, 0).u(8, 30);
    assert.throws(() => parseSps(nalUnit(7, base().ue(32).bytes())), malformed(/seq_parameter_set_id is 32/));
    assert.throws(() => parseSps(nalUnit(7, base().ue(0).ue(0).ue(3).bytes())), malformed(/pic_order_cnt_type is 3/));
    assert.throws(() => parseSps(nalUnit(7, base().ue(0).ue(0).ue(2).ue(17).bytes())), malformed(/max_num_ref_frames is 17/));
    assert.throws(() => parseSps(nalUnit(7, base().ue(0).ue(0).ue(2).ue(1).u(1, 0).ue(5000).bytes())), malformed(/pic_width_in_mbs_minus1 is 5000/));
    // Cropping more than the picture: 16 px wide, 8 cropped on each side of a 4:2:0 picture is 32 px.
    assert.throws(() => parseSps(nalUnit(7, base().ue(0).ue(0).ue(2).ue(1).u(1, 0).ue(0).ue(0).u(1, 1).u(1, 1).u(1, 1).ue(4).ue(4).ue(0).ue(0).bytes())), malformed(/cropping leaves a 0x16 picture/));
  });

  it('refuses a truncated SPS with INVALID_SEGMENT, not a bare Error', () => {
    assert.throws(() => parseSps(Uint8Array.of(0x67, 66, 0)), malformed(/ran past the end/));
  });
});
