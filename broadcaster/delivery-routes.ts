// The payer's delivery API on the broadcaster's HTTP port: `POST /delivery/sessions` certifies a player's
// ephemeral key for a stream (open to browsers on any origin, rate-limited per source address with 429
// RATE_LIMITED), and `POST /delivery/claims` takes a relay's newest receipts, signed by the relay's node
// key (protocol/signed-request.ts, replays refused), and answers the verdicts and the tickets.

import type { IncomingHttpHeaders } from 'node:http';
import express, { type Router } from 'express';
import type { HttpGuard } from '../http/http-limits.ts';
import { cors } from '../http/cors.ts';
import { CastnetError } from '../protocol/errors.ts';
import { parseRequest } from '../protocol/fields.ts';
import { MAX_RECEIPT_BODY_BYTES, MAX_RECEIPTS_PER_CLAIM, viewerSessionRequestSchema } from '../protocol/delivery-receipt.ts';
import { claimSchema } from '../protocol/delivery-claim.ts';
import { RequestVerifier } from '../protocol/signed-request.ts';
import { RateLimiter } from '../http/rate-limiter.ts';
import { sourceOf } from '../http/signed-writes.ts';
import type { DeliveryPayer } from './delivery-payer.ts';

export const SESSIONS_PATH = '/delivery/sessions';
export const CLAIMS_PATH = '/delivery/claims';
/** A claim is its receipts plus ticket parameters. */
const MAX_CLAIM_BYTES = MAX_RECEIPTS_PER_CLAIM * MAX_RECEIPT_BODY_BYTES + 4 * 1024;

export interface DeliveryRoutesOptions {
  payer: DeliveryPayer;
  guard: HttpGuard;
  /** Viewer sessions per source address: a player asks once per stream and again near expiry. */
  sessionsPerSecond: number;
  sessionsBurst: number;
  now?: () => number;
  onSession?: () => void;
  /** Signed playback: resolves when the request's token admits the stream (401/403 with a reason otherwise). */
  admitViewer?: (playbackId: string, req: { headers: IncomingHttpHeaders; url?: string }) => Promise<void>;
  onClaim?: (answer: { credited: number; refused: Record<string, number> }) => void;
}

export function deliveryRoutes(options: DeliveryRoutesOptions): Router {
  const router = express.Router();
  const sessions = new RateLimiter({ ratePerSecond: options.sessionsPerSecond, burst: options.sessionsBurst, ...(options.now ? { now: options.now } : {}) });
  // A relay claims each stream every few seconds; more is a flood.
  const claims = new RateLimiter({ ratePerSecond: 5, burst: 20, ...(options.now ? { now: options.now } : {}) });
  const verifier = new RequestVerifier(options.now ? { now: options.now } : {});
  router.use(SESSIONS_PATH, cors({ preflight: { methods: ['POST', 'OPTIONS'], headers: ['content-type', 'authorization'], maxAgeSeconds: 86_400 } }));
  router.post(SESSIONS_PATH, ...options.guard.jsonBody('a viewer session request', 1024), async (req, res) => {
    const source = sourceOf(req);
    if (!sessions.take(source)) throw new CastnetError('RATE_LIMITED', 'too many viewer sessions asked from this address: retry in a few seconds', { reason: 'session_rate' });
    const request = parseRequest(viewerSessionRequestSchema, req.body, 'viewer session request');
    // A signed stream's sessions go to its token holders only: a session is a licence to be served.
    await options.admitViewer?.(request.playbackId, { headers: req.headers, url: req.originalUrl });
    const certificate = options.payer.issueSession(request.playbackId, request.sessionKey);
    options.onSession?.();
    res.set('cache-control', 'no-store').json(certificate);
  });
  router.post(CLAIMS_PATH, ...options.guard.rawBody('a delivery claim', MAX_CLAIM_BYTES), async (req, res) => {
    const body = req.body as Buffer;
    const relay = verifier.verify({ method: 'POST', path: req.originalUrl, body, header: (h) => req.get(h) });
    if (!claims.take(relay)) throw new CastnetError('RATE_LIMITED', 'too many claims from this relay: claim every few seconds', { reason: 'claim_rate' });
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw new CastnetError('BAD_REQUEST', 'the claim is not JSON', { reason: 'malformed_json' });
    }
    const answer = await options.payer.claim(relay, parseRequest(claimSchema, json, 'delivery claim'));
    const refused: Record<string, number> = {};
    for (const r of answer.results) if (r.reason) refused[r.reason] = (refused[r.reason] ?? 0) + 1;
    options.onClaim?.({ credited: answer.results.reduce((n, r) => n + r.credited, 0), refused });
    res.json(answer);
  });
  return router;
}
