// How the CLI names a failed call to a remote API: which service at which URL, and what went wrong, in one
// sentence an operator can act on ("the ledger at http://127.0.0.1:8935 could not be reached (ECONNREFUSED)").

import { CastnetError } from '../protocol/errors.ts';

/** The system error code under a fetch failure (ECONNREFUSED, ENOTFOUND…), or its message. */
function networkDetail(err: unknown): string {
  let cause: unknown = err;
  let deepest = err instanceof Error ? err.message : String(err);
  for (let depth = 0; depth < 4 && cause instanceof Error; depth++) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    deepest = cause.message;
    cause = cause.cause;
  }
  return deepest;
}

export function describeRemoteFailure(err: unknown, service: string, baseUrl: string): string {
  if (err instanceof CastnetError && err.context['status'] === undefined) {
    if (err.code === 'UPSTREAM_TIMEOUT') return `the ${service} at ${baseUrl} did not answer in time`;
    if (err.code === 'UPSTREAM_FAILED' || err.code === 'BAD_REQUEST') return err.cause ? `the ${service} at ${baseUrl} could not be reached (${networkDetail(err.cause)})` : `the ${service} at ${baseUrl}: ${err.message}`;
  }
  if (err instanceof CastnetError) {
    const reason = typeof err.context['reason'] === 'string' ? ` [${err.context['reason']}]` : '';
    return `the ${service} at ${baseUrl} refused: ${err.message} (${err.code}${reason})`;
  }
  return `the ${service} at ${baseUrl} failed: ${err instanceof Error ? err.message : String(err)}`;
}
