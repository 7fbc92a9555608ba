// The orchestrator's gate in front of every write under /api: reads the body as raw bytes (bounded),
// rate-limits writes per source address, verifies a request signature over exactly those bytes
// (protocol/signed-request.ts) when the request carries one, then parses the JSON for the routes. Routes
// that act for a key read it with `signerOf` (refused when unsigned); reads (GET) pass untouched.

import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { HttpGuard } from './http-limits.ts';
import { CastnetError } from '../protocol/errors.ts';
import { hasSignature, type RequestVerifier } from '../protocol/signed-request.ts';
import type { RateLimiter } from './rate-limiter.ts';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface SignedWritesOptions {
  verifier: RequestVerifier;
  /** Writes per source address. */
  limiter: RateLimiter;
  /** Bounds the body (from content-length first) and counts what it refuses. */
  guard: HttpGuard;
  maxBodyBytes: number;
}

/** The address of the socket a request came from (no proxy headers: they are the sender's to forge). */
export function sourceOf(req: Request): string {
  return req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? 'unknown';
}

export function signedWrites(options: SignedWritesOptions): RequestHandler[] {
  const [raw] = options.guard.rawBody('a write', options.maxBodyBytes) as [RequestHandler];
  const gate = (req: Request, res: Response, next: NextFunction) => {
    if (READS.has(req.method)) return next();
    if (!options.limiter.take(sourceOf(req))) throw new CastnetError('RATE_LIMITED', `too many writes from ${sourceOf(req)}: slow down`, { reason: 'write_rate' });
    const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const header = (name: string) => req.get(name);
    if (hasSignature({ header })) {
      res.locals.signer = options.verifier.verify({ method: req.method, path: req.originalUrl, body, header });
      // How far the signer's clock is from ours (within the verifier's bound, or it was refused).
      res.locals.clockSkewMs = Number(req.get('castnet-timestamp')) - Date.now();
    }
    if (body.length === 0) req.body = {};
    else {
      try {
        req.body = JSON.parse(body.toString('utf8'));
      } catch {
        throw new CastnetError('BAD_REQUEST', 'the body is not JSON', { reason: 'malformed_json' });
      }
    }
    next();
  };
  return [(req, res, next) => (READS.has(req.method) ? next() : raw(req, res, next)), gate];
}

/** The verified signer of this request (lower case); SIGNATURE_INVALID when it was not signed. */
export function signerOf(res: Response, what: string): string {
  const signer = res.locals.signer as string | undefined;
  if (!signer) throw new CastnetError('SIGNATURE_INVALID', `${what} changes state and must be signed by the key it speaks for (protocol/signed-request.ts)`, { reason: 'signature_missing' });
  return signer;
}
