// The broadcaster's stream-key admin routes (protocol/stream-key-admin.ts): `POST /admin/stream-keys` makes
// a key in this broadcaster's store and answers it with its OBS settings, `GET /admin/stream-keys` lists the
// keys as the dashboard shows them. The orchestrator's dashboard forwards to them when the broadcaster runs
// elsewhere (`castnet orchestrator --key-issuer-url`). Behind the admin token of this broadcaster's data
// directory (http/admin-token.ts: bearer header only, constant-time compare, every attempt rate-limited per
// address), checked before the body is read; the body is bounded and parsed by the contract's schema.

import express, { type Router } from 'express';
import type { AdminTokenGate } from '../http/admin-token.ts';
import type { HttpGuard } from '../http/http-limits.ts';
import { CastnetError } from '../protocol/errors.ts';
import { STREAM_KEY_ADMIN_PATH, STREAM_KEY_CREATE_MAX_BYTES, parseStreamKeyCreateBody, type StreamKeyIssuer } from '../protocol/stream-key-admin.ts';

export interface KeyAdminRoutesOptions {
  gate: AdminTokenGate;
  guard: HttpGuard;
  issuer: StreamKeyIssuer;
  /** False (--no-key-admin): every request is refused with 403 `key_admin_off`, whatever its token. */
  enabled: boolean;
}

export function keyAdminRoutes(options: KeyAdminRoutesOptions): Router {
  const router = express.Router();
  router.use(STREAM_KEY_ADMIN_PATH, (req, _res, next) => {
    if (!options.enabled) throw new CastnetError('FORBIDDEN', 'this broadcaster makes no stream keys over HTTP (--no-key-admin): add them with castnet keys add where it runs', { reason: 'key_admin_off' });
    options.gate.check(req);
    next();
  });
  router.post(STREAM_KEY_ADMIN_PATH, ...options.guard.rawBody('a stream-key request', STREAM_KEY_CREATE_MAX_BYTES), async (req, res) => {
    res.status(201).set('cache-control', 'no-store').json(await options.issuer.create(parseStreamKeyCreateBody(req.body as Buffer)));
  });
  router.get(STREAM_KEY_ADMIN_PATH, async (_req, res) => {
    res.set('cache-control', 'no-store').json(await options.issuer.list());
  });
  return router;
}
