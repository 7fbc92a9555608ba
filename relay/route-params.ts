// Path parameters of the relay's Express routes, checked once at the edge.

import { CastnetError } from '../protocol/errors.ts';
import { idPattern, renditionNamePattern } from '../protocol/fields.ts';

export function checkId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !idPattern.test(value)) throw new CastnetError('INVALID_PATH', `invalid ${what}`);
  return value;
}

/** A rendition name as descriptors and playlists take it (protocol/fields.ts): one the relay could never serve is refused. */
export function checkRendition(value: unknown): string {
  if (typeof value !== 'string' || !renditionNamePattern.test(value)) throw new CastnetError('INVALID_PATH', 'invalid rendition');
  return value;
}

/** A whole number in a path (a sequence, a part index): digits only, at most `max`. */
export function checkWhole(value: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d{1,12}$/.test(value) || n > max) throw new CastnetError('INVALID_PATH', `invalid ${what}`);
  return n;
}
