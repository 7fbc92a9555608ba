// Property-based fuzzing of the AMF0 decoder, which reads the commands of anyone who connects. FUZZ_RUNS
// (set by `npm run fuzz`) lengthens the run; the default keeps the unit suite quick.

import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { decodeAmf0, encodeAmf0, type AmfValue } from './amf0.ts';
import { RtmpProtocolError } from './rtmp-protocol-error.ts';

const RUNS = Number(process.env.FUZZ_RUNS) || 200;
const TIMEOUT_MS = Math.max(60_000, RUNS * 50);

const { value: amfValue } = fc.letrec<{ value: AmfValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.double(),
    fc.boolean(),
    fc.string({ maxLength: 40 }),
    fc.constant(null),
    fc.constant(undefined),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 12 }), tie('value'), { maxKeys: 5, noNullPrototype: true }),
  ),
}));

function decodeOrRefuse(bytes: Buffer): void {
  try {
    decodeAmf0(bytes);
  } catch (err) {
    if (!(err instanceof RtmpProtocolError)) throw err;
  }
}

describe('AMF0 decoder on arbitrary bytes', () => {
  it('throws nothing but RtmpProtocolError', { timeout: TIMEOUT_MS }, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => decodeOrRefuse(Buffer.from(bytes))),
      { numRuns: RUNS },
    );
  });

  it('decodes what it encodes', { timeout: TIMEOUT_MS }, () => {
    fc.assert(
      fc.property(fc.array(amfValue, { maxLength: 5 }), (values) => {
        assert.deepEqual(decodeAmf0(encodeAmf0(...values)), values);
      }),
      { numRuns: RUNS },
    );
  });

  it('throws nothing but RtmpProtocolError on encodings with bytes changed or cut', { timeout: TIMEOUT_MS }, () => {
    fc.assert(
      fc.property(
        fc.array(amfValue, { minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.nat(),
        (values, changes, cut) => {
          const bytes = encodeAmf0(...values);
          for (const [at, value] of changes) bytes[at % bytes.length] = value;
          decodeOrRefuse(bytes.subarray(0, cut % (bytes.length + 1)));
        },
      ),
      { numRuns: RUNS },
    );
  });
});
