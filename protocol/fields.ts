// Field schemas every wire contract is built from (hex strings, uint256 decimals, addresses, ids and
// rendition names), and the one way a failed parse is described to whoever sent it.

import { z } from 'zod';
import { CastnetError } from './errors.ts';

/** The largest uint256: also the win probability that always wins. */
const UINT256_MAX = (1n << 256n) - 1n;

/** Playback ids, stream ids and other path-safe ids: what may appear in a URL path segment. */
export const ID_CHARS = '[A-Za-z0-9_-]{1,64}';
export const idPattern = new RegExp(`^${ID_CHARS}$`);
/** Rendition names (`720p`, `source`): path-safe and short. */
export const RENDITION_CHARS = '[A-Za-z0-9_-]{1,32}';
export const renditionNamePattern = new RegExp(`^${RENDITION_CHARS}$`);

/** `0x` and `bytes` bytes of hex, any case, read as lower case. */
export const hex = (bytes: number) => z.string().regex(new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`)).transform((s) => s.toLowerCase());
/** A uint256 as a decimal string, read as a bigint. */
export const uint = z.string().regex(/^\d{1,78}$/).transform((s) => BigInt(s)).refine((v) => v <= UINT256_MAX, 'exceeds uint256');
/** A decimal string that stays a string (prices and balances carried as text). */
export const decimalString = z.string().regex(/^\d{1,78}$/);
/** `0x` and 40 hex digits, any case. */
export const addressPattern = /^0x[0-9a-fA-F]{40}$/;
/** An Ethereum-style address, kept as sent. */
export const addressString = z.string().regex(addressPattern);
/** An address as derived from a signing key: lower case, compared as a string. */
export const derivedAddressString = z.string().regex(/^0x[0-9a-f]{40}$/);
/** A 65-byte r ‖ s ‖ v signature as hex, kept as sent. */
export const signatureString = z.string().regex(/^0x[0-9a-fA-F]{130}$/);

/** `path: message; …` for every issue of a failed parse: what a 400 answer tells the sender. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
}

/** A request's `what` (a body, headers) read through its schema, or BAD_REQUEST naming every field at fault. */
export function parseRequest<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    // A schema that names why (a node URL's `url_not_origin`) passes the reason on, for the refusal's metrics.
    const reason = parsed.error.issues.map((i) => (i as { params?: { reason?: unknown } }).params?.reason).find((r) => typeof r === 'string');
    throw new CastnetError('BAD_REQUEST', `invalid ${what}: ${describeIssues(parsed.error)}`, reason ? { reason } : {});
  }
  return parsed.data;
}
