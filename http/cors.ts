// Cross-origin access for what browsers on other origins read: the orchestrator's public API (the
// dashboard, players picking a relay) and a relay's HLS and player files. Every origin is allowed: reads
// are public, and nothing here relies on cookies or other ambient credentials.

import type { RequestHandler } from 'express';

export interface CorsPolicy {
  /** Response headers scripts may read besides the CORS-safelisted ones. */
  exposeHeaders?: ReadonlyArray<string>;
  /** When set, OPTIONS requests are answered here (204) with these allowances. */
  preflight?: { methods: ReadonlyArray<string>; headers: ReadonlyArray<string>; maxAgeSeconds?: number };
}

/** The headers of an ordinary (non-preflight) answer. */
export function corsHeaders(policy: CorsPolicy = {}): Record<string, string> {
  return { 'access-control-allow-origin': '*', ...(policy.exposeHeaders?.length ? { 'access-control-expose-headers': policy.exposeHeaders.join(', ') } : {}) };
}

/** The headers of an answer to a preflight (OPTIONS) request. */
export function preflightHeaders(policy: CorsPolicy): Record<string, string> {
  if (!policy.preflight) return corsHeaders(policy);
  const { methods, headers, maxAgeSeconds } = policy.preflight;
  return {
    ...corsHeaders(policy),
    'access-control-allow-methods': methods.join(', '),
    'access-control-allow-headers': headers.join(', '),
    ...(maxAgeSeconds !== undefined ? { 'access-control-max-age': String(maxAgeSeconds) } : {}),
  };
}

/** Express middleware applying a policy; answers preflights itself when the policy has one. */
export function cors(policy: CorsPolicy = {}): RequestHandler {
  const simple = corsHeaders(policy);
  const preflight = preflightHeaders(policy);
  return (req, res, next) => {
    if (policy.preflight && req.method === 'OPTIONS') {
      res.set(preflight).status(204).end();
      return;
    }
    res.set(simple);
    next();
  };
}
