// The one place a failed HTTP exchange with another Castnet node becomes a CastnetError: an error answer
// (any status, any body: Castnet's `{ error: { code, message, reason } }` or not) keeps the remote code,
// reason and status; a request that never got an answer (refused, reset, timed out) names the URL.

import { z } from 'zod';
import { CastnetError, isErrorCode } from './errors.ts';
import { readLimited } from './read-limited.ts';

/** An error body longer than this is not read: ours are a few hundred bytes. */
const ERROR_BODY_MAX_BYTES = 64 * 1024;

const errorBodySchema = z.object({
  error: z.looseObject({ code: z.string().optional(), message: z.string().optional(), reason: z.string().optional(), paid: z.string().regex(/^\d{1,78}$/).optional().catch(undefined) }),
});

/** An error answer from `node` as a CastnetError: the remote code when it is one of ours, else UPSTREAM_FAILED. */
export async function failureFromResponse(res: Response, what: string, node: string): Promise<CastnetError> {
  // Read up to a limit: an error answer is a short JSON body, and another node's is not trusted to be.
  let json: unknown = null;
  try {
    json = JSON.parse((await readLimited(res, ERROR_BODY_MAX_BYTES)).toString('utf8'));
  } catch {
    // Not JSON, or too long: the status alone speaks.
  }
  const parsed = errorBodySchema.safeParse(json);
  const error = parsed.success ? parsed.data.error : {};
  const code = isErrorCode(error.code) ? error.code : 'UPSTREAM_FAILED';
  return new CastnetError(code, `${what}: ${res.status} ${error.message ?? res.statusText}`, { node, status: res.status, ...(error.reason ? { reason: error.reason } : {}), ...(error.paid ? { paid: error.paid } : {}) });
}

/** A fetch that threw (no answer) as a CastnetError naming the URL: UPSTREAM_TIMEOUT for a timeout, else UPSTREAM_FAILED. */
export function failureFromNetwork(err: unknown, what: string, url: string, node: string): CastnetError {
  const timedOut = err instanceof Error && err.name === 'TimeoutError';
  const detail = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
  return new CastnetError(timedOut ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_FAILED', `${what}: ${url} ${timedOut ? 'did not answer in time' : `could not be reached (${detail})`}`, { node }, { cause: err });
}
