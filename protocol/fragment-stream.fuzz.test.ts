// Property-based fuzzing of the progressive answer's framing (fragment-stream.ts), which the broadcaster
// reads from transcoders it does not trust: any bytes, cut into any chunks, either decode into frames or
// are refused with INVALID_SEGMENT, never anything else; frames that were encoded decode back to themselves
// whatever the chunking; and no declared length makes the decoder buffer before the bytes arrive.
// FUZZ_RUNS (set by `npm run fuzz`) lengthens the run.

import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { MAX_BOX_BYTES } from '../media/fmp4.ts';
import { CastnetError } from './errors.ts';
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES, type Frame, type FrameKind } from './fragment-stream.ts';

const RUNS = Number(process.env.FUZZ_RUNS) || 200;
const TIMEOUT_MS = Math.max(60_000, RUNS * 20);

/** Cuts `bytes` at the given points (sorted, deduplicated, within bounds). */
function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...at, bytes.length]) {
    if (c > from) out.push(bytes.subarray(from, c));
    from = Math.max(from, c);
  }
  return out;
}

describe('progressive answer framing (fuzzed)', () => {
  it('decodes any bytes in any chunking into frames, or refuses them with INVALID_SEGMENT', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.array(fc.nat(), { maxLength: 8 }), fc.integer({ min: 1, max: 16 }), (bytes, cuts, renditions) => {
        const decoder = new FrameDecoder(renditions);
        try {
          for (const c of chunks(Buffer.from(bytes), cuts)) for (const f of decoder.push(c)) assert.ok(f.rendition < renditions && f.payload.length <= MAX_FRAME_BYTES);
        } catch (err) {
          assert.ok(err instanceof CastnetError && err.code === 'INVALID_SEGMENT', String(err));
        }
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT_MS);

  it('gives back exactly the frames that were encoded, whatever the chunking', () => {
    const frame = fc.record({ rendition: fc.integer({ min: 0, max: 3 }), kind: fc.constantFrom<FrameKind>('init', 'fragment'), payload: fc.uint8Array({ maxLength: 300 }) });
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 10 }), (frames, cuts) => {
        const wire = Buffer.concat([...frames.flatMap((f) => encodeFrame(f.rendition, f.kind, Buffer.from(f.payload))), ...encodeFrame(0, 'end')]);
        const decoder = new FrameDecoder(4);
        const got: Frame[] = [];
        for (const c of chunks(wire, cuts)) got.push(...decoder.push(c));
        assert.equal(decoder.finished, true);
        assert.deepEqual(got.map((f) => [f.rendition, f.kind, [...f.payload]]), [...frames.map((f) => [f.rendition, f.kind, [...f.payload]]), [0, 'end', []]]);
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT_MS);

  it('refuses a declared length over the bound from the header alone, and bytes after the end frame', () => {
    assert.equal(MAX_FRAME_BYTES, MAX_BOX_BYTES, 'a frame holds one fragment as large as the fMP4 splitter takes');
    const huge = Buffer.alloc(6);
    huge[1] = 1;
    huge.writeUInt32BE(MAX_FRAME_BYTES + 1, 2);
    assert.throws(() => new FrameDecoder(1).push(huge), (err: CastnetError) => err.code === 'INVALID_SEGMENT' && /at most/.test(err.message));
    const after = Buffer.concat([...encodeFrame(0, 'end'), Buffer.from([0])]);
    assert.throws(() => new FrameDecoder(1).push(after), /after the last frame/);
    assert.throws(() => new FrameDecoder(1).push(Buffer.concat(encodeFrame(1, 'init', Buffer.from('x')))), /rendition index 1 of 1/);
  });
});
