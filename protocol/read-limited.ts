// Reads the body of a response from another node as a stream, up to a byte limit: a peer that answers an
// endless or oversized body is cut off at the limit instead of filling this node's memory (issue 11).

import { CastnetError, type ErrorContext } from './errors.ts';

/**
 * The whole body of `res`, or PAYLOAD_TOO_LARGE (with `context`) once it passes `maxBytes`; the
 * connection is then cancelled, so the peer stops sending. A Content-Length over the limit is refused
 * before anything is read.
 */
export async function readLimited(res: Response, maxBytes: number, context: ErrorContext = {}): Promise<Buffer> {
  const tooLarge = (what: string) => new CastnetError('PAYLOAD_TOO_LARGE', `response body ${what} exceeds the limit of ${maxBytes} bytes`, { ...context, maxBytes });
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw tooLarge(`of ${declared} bytes`);
  }
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(`of at least ${total} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}
