// The MPEG-TS probe on hostile input, built in code: a parser bomb in the SPS of an otherwise valid
// segment, oversized and malformed streams, and property-based fuzzing (fast-check) of probeTs, the SPS
// parser, the ADTS reader and assertMpegTs on arbitrary bytes and on mutated valid segments. Every input is
// answered with a result or an INVALID_SEGMENT CastnetError after work bounded by the input's packet count.
// FUZZ_RUNS=<n> runs more cases than the default.

import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { CastnetError } from '../protocol/errors.ts';
import { MAX_SPS_BYTES, parseSps } from './h264-sps.ts';
import { TS_PACKET_SIZE, assertMpegTs } from './mpegts.ts';
import { BitWriter, nalUnit, spsRbsp, syntheticSegment } from './synthetic-segment.ts';
import { PROBE_LIMITS, adtsCodecString, probeTs, type ProbeWork } from './ts-probe.ts';

const RUNS = Number(process.env.FUZZ_RUNS) || 200;
const newWork = (): ProbeWork => ({ packets: 0, spsBytes: 0, spsBits: 0 });

/** An SPS claiming a 2^32 − 2 entry POC cycle, then `ones` one-bits that would each be one entry. */
function cycleBombSps(ones: number): Uint8Array {
  return nalUnit(7, new BitWriter().u(8, 66).u(8, 0).u(8, 30).ue(0).ue(0).ue(1).u(1, 0).se(0).se(0).ue(2 ** 32 - 2).ones(ones).bytes());
}

/** Runs `fn`; passes when it returns or throws a CastnetError, fails on anything else it throws. */
function onlyCastnetErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof CastnetError) || err.code !== 'INVALID_SEGMENT') throw err;
  }
}

/** Work bound for one probe: one look per packet, and never more SPS than MAX_SPS_BYTES per video PES. */
function assertBounded(bytes: Uint8Array, work: ProbeWork): void {
  const packets = Math.floor(bytes.length / TS_PACKET_SIZE);
  assert.ok(work.packets <= packets, `${work.packets} packets walked of ${packets}`);
  // The probe parses at most one SPS and stops at its first error.
  assert.ok(work.spsBytes <= MAX_SPS_BYTES && work.spsBits <= MAX_SPS_BYTES * 8);
}

describe('MPEG-TS probe on hostile input', () => {
  it('describes a segment built in code', () => {
    const info = probeTs(syntheticSegment({ frames: 60, fps: 30 }));
    assert.deepEqual([info.width, info.height, info.fps, info.frames, info.audioCodec, info.codecs], [640, 360, 30, 60, 'aac', 'avc1.42c01e,mp4a.40.2']);
    assert.equal(info.duration, 2);
  });

  it('refuses a parser bomb in the SPS of a valid segment quickly: the work does not grow with the bomb', () => {
    const small = newWork();
    const large = newWork();
    const bomb = (ones: number) => syntheticSegment({ sps: cycleBombSps(ones), frames: 5 });
    const refusal = { code: 'INVALID_SEGMENT', message: /num_ref_frames_in_pic_order_cnt_cycle is 4294967294, above its limit 255/ };
    const kilobytes = bomb(64 * 1024);
    const megabytes = bomb(4 * 1024 * 1024);
    assert.ok(megabytes.length > 512 * 1024);
    assert.throws(() => probeTs(kilobytes, small), refusal);
    assert.throws(() => probeTs(megabytes, large), refusal);
    assert.equal(large.spsBits, small.spsBits, 'the same bits are read before the refusal');
    assert.ok(large.spsBits < 128 && large.spsBytes <= MAX_SPS_BYTES);
    // The walk stops at the refusal: it does not go on through the megabytes of the bomb's PES.
    assert.ok(large.packets < 2 + Math.ceil(PROBE_LIMITS.pesHeadBytes / 184) + 2, `${large.packets} packets walked`);
  });

  it('refuses a segment larger than the probe reads without walking it', () => {
    const work = newWork();
    const huge = Buffer.alloc(PROBE_LIMITS.maxBytes + TS_PACKET_SIZE);
    assert.throws(() => probeTs(huge, work), { code: 'INVALID_SEGMENT', message: /more than the 67108864 a probe reads/ });
    assert.equal(work.packets, 0);
  });

  it('refuses a segment whose SPS is truncated by the end of the stream with INVALID_SEGMENT', () => {
    const sps = nalUnit(7, spsRbsp().bytes()).subarray(0, 4);
    assert.throws(() => probeTs(syntheticSegment({ sps, frames: 3 })), { code: 'INVALID_SEGMENT', message: /ran past the end/ });
  });
});

describe('fuzzing the media parsers', () => {
  const valid = syntheticSegment({ frames: 12, audio: true });
  const high = syntheticSegment({ frames: 12, sps: nalUnit(7, spsRbsp({ profileIdc: 100, scalingLists: true, pocType: 1, width: 1280, height: 720 }).bytes()) });

  it('probeTs and assertMpegTs answer arbitrary packet-aligned bytes with a result or INVALID_SEGMENT', () => {
    const packet = fc.uint8Array({ minLength: TS_PACKET_SIZE, maxLength: TS_PACKET_SIZE }).map((p) => ((p[0] = 0x47), p));
    fc.assert(
      fc.property(fc.array(packet, { minLength: 1, maxLength: 40 }), (pkts) => {
        const bytes = Buffer.concat(pkts);
        const work = newWork();
        onlyCastnetErrors(() => assertMpegTs(bytes));
        onlyCastnetErrors(() => probeTs(bytes, work));
        assertBounded(bytes, work);
      }),
      { numRuns: RUNS },
    );
  });

  it('probeTs and assertMpegTs answer arbitrary unaligned bytes with INVALID_SEGMENT', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4 * TS_PACKET_SIZE }), (bytes) => {
        onlyCastnetErrors(() => assertMpegTs(bytes));
        onlyCastnetErrors(() => probeTs(bytes));
      }),
      { numRuns: RUNS },
    );
  });

  it('probeTs answers mutated valid segments with a sane result or INVALID_SEGMENT', () => {
    const mutation = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 24 });
    fc.assert(
      fc.property(fc.constantFrom(valid, high), mutation, (segment, edits) => {
        const bytes = Buffer.from(segment);
        // Mostly hit the first packets, where the PAT, PMT and SPS live.
        for (const [at, value] of edits) bytes[at % (at & 1 ? 6 * TS_PACKET_SIZE : bytes.length)] = value;
        const work = newWork();
        try {
          const info = probeTs(bytes, work);
          assert.ok(Number.isInteger(info.width) && info.width > 0 && info.width <= 16 * 1055);
          assert.ok(Number.isInteger(info.height) && info.height > 0 && info.height <= 32 * 1055);
          assert.ok(Number.isFinite(info.duration) && Number.isFinite(info.fps) && info.frames > 0);
        } catch (err) {
          if (!(err instanceof CastnetError) || err.code !== 'INVALID_SEGMENT') throw err;
        }
        assertBounded(bytes, work);
      }),
      { numRuns: RUNS },
    );
  });

  it('parseSps answers arbitrary NAL bytes with a result or INVALID_SEGMENT, reading at most MAX_SPS_BYTES', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 3 * MAX_SPS_BYTES }), (nal) => {
        const work = { spsBytes: 0, spsBits: 0 };
        onlyCastnetErrors(() => parseSps(nal, work));
        assert.ok(work.spsBytes <= MAX_SPS_BYTES);
      }),
      { numRuns: RUNS },
    );
  });

  it('parseSps answers bit-flipped valid SPSs with a result or INVALID_SEGMENT', () => {
    const spss = [spsRbsp(), spsRbsp({ profileIdc: 100, scalingLists: true, pocType: 1 }), spsRbsp({ pocType: 0, width: 1920, height: 1080 })].map((w) => nalUnit(7, w.bytes()));
    fc.assert(
      fc.property(fc.constantFrom(...spss), fc.array(fc.nat(), { minLength: 1, maxLength: 8 }), (sps, flips) => {
        const nal = Uint8Array.from(sps);
        for (const f of flips) nal[1 + (f % (nal.length - 1))]! ^= 1 << (f % 8);
        onlyCastnetErrors(() => parseSps(nal));
      }),
      { numRuns: RUNS },
    );
  });

  it('adtsCodecString answers any bytes with an mp4a.40 string', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 16 }), (header) => {
        assert.match(adtsCodecString(header), /^mp4a\.40\.[1-4]$/);
      }),
      { numRuns: RUNS },
    );
  });
});
