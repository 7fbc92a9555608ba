// Path parameters of the relay's Express routes, checked once at the edge.

import { CastnetError } from '../protocol/errors.ts';
import { idPattern } from '../protocol/fields.ts';

export function checkId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !idPattern.test(value)) throw new CastnetError('INVALID_PATH', `invalid ${what}`);
  return value;
}
