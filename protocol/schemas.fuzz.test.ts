// Property-based fuzzing of what every node parses from strangers: the payment header a transcoder reads
// before any work, and the JSON bodies of every API (parsed with protocol/ schemas at the edge). Each must
// refuse with its own CastnetError and never throw anything else (the header's round trip is pinned in
// settlement/payment-receiver.test.ts).
// FUZZ_RUNS (set by `npm run fuzz`) lengthens the run.

import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { admissionChangeSchema } from './admission.ts';
import { CastnetError } from './errors.ts';
import { failureReportSchema } from './failure-report.ts';
import { parseRequest } from './fields.ts';
import { heartbeatSchema, nodeRegistrationSchema } from './node-record.ts';
import { decodePayment } from './payment.ts';
import { depositRequestSchema, redemptionRequestSchema } from './redemption.ts';
import { sessionRequestSchema, streamDescriptorSchema } from './stream-record.ts';

const RUNS = Number(process.env.FUZZ_RUNS) || 200;
const TIMEOUT_MS = Math.max(60_000, RUNS * 20);

function refusesOnlyWithCastnetError(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CastnetError, `threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
    assert.equal(err.code, code);
  }
}

/** JSON-ish values, nested, with keys that have bitten parsers before. */
const { json } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 30 }),
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('json'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'role', 'url', 'load', 'tickets')), tie('json'), { maxKeys: 5 }),
  ),
}));

describe('payment header on arbitrary input', () => {
  it('refuses anything malformed with 402 PAYMENT_REQUIRED and nothing else', { timeout: TIMEOUT_MS }, () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.base64String({ maxLength: 400 }), json.map((v) => Buffer.from(JSON.stringify(v) ?? 'null').toString('base64'))), (header) => {
        refusesOnlyWithCastnetError(() => decodePayment(header), 'PAYMENT_REQUIRED');
      }),
      { numRuns: RUNS },
    );
  });
});

describe('JSON API schemas on arbitrary bodies', () => {
  const schemas = {
    'node registration': nodeRegistrationSchema,
    heartbeat: heartbeatSchema,
    'session request': sessionRequestSchema,
    'stream descriptor': streamDescriptorSchema,
    'failure report': failureReportSchema,
    'admission change': admissionChangeSchema,
    'redemption request': redemptionRequestSchema,
    'deposit request': depositRequestSchema,
  } as const;
  for (const [what, schema] of Object.entries(schemas)) {
    it(`${what}: refuses with 400 BAD_REQUEST and nothing else, and never yields an inherited key`, { timeout: TIMEOUT_MS }, () => {
      fc.assert(
        fc.property(json, (body) => {
          let parsed: unknown;
          try {
            parsed = parseRequest(schema as never, body, what);
          } catch (err) {
            assert.ok(err instanceof CastnetError, `threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
            assert.equal(err.code, 'BAD_REQUEST');
            return;
          }
          if (parsed && typeof parsed === 'object') assert.equal(Object.getPrototypeOf(parsed) === Object.prototype || Array.isArray(parsed), true);
        }),
        { numRuns: RUNS },
      );
    });
  }
});
