// Assertions shared by unit and network tests.

import assert from 'node:assert/strict';
import { CastnetError } from '../../protocol/errors.ts';

/** Awaits a call that must fail with a CastnetError of this code (and status, reason, message when given). */
export async function rejectsWith(call: Promise<unknown>, expected: { code: string; status?: number; reason?: string; message?: RegExp }): Promise<CastnetError> {
  const err = await call.then(
    () => assert.fail('expected a failure'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CastnetError, `not a CastnetError: ${String(err)}`);
  assert.equal(err.code, expected.code);
  if (expected.status !== undefined) assert.equal(err.context.status, expected.status);
  if (expected.reason !== undefined) assert.equal(err.context.reason, expected.reason);
  if (expected.message) assert.match(err.message, expected.message);
  return err;
}
