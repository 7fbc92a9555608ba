// The dashboard under /dashboard: the page and its script and style (plain files in ./dashboard/), the
// public snapshot (`/dashboard/snapshot`) and its live feed over server-sent events (`/dashboard/events`,
// dashboard-hub.ts), and the operator's stream-key routes, which need the admin token as a bearer header
// (http/admin-token.ts): no cookie is ever read, so another site cannot ride a browser's session (CSRF),
// and no CORS header is sent, so another origin's script cannot read the answers.

import { readFileSync } from 'node:fs';
import { Router, type RequestHandler, type Response } from 'express';
import { CastnetError } from '../protocol/errors.ts';
import type { AdminTokenGate } from '../http/admin-token.ts';
import type { HttpGuard } from '../http/http-limits.ts';
import { parseStreamKeyCreateBody, STREAM_KEY_CREATE_MAX_BYTES, type StreamKeyIssuer } from '../protocol/stream-key-admin.ts';
import type { DashboardHub } from './dashboard-hub.ts';

// Where keys are made and what a new key's answer holds are the stream-key admin contract's.
export { OBS_RECOMMENDED, type StreamKeyIssuer } from '../protocol/stream-key-admin.ts';

const files = ['index.html', 'dashboard.js', 'dashboard.css'] as const;
const types: Record<(typeof files)[number], string> = { 'index.html': 'text/html; charset=utf-8', 'dashboard.js': 'text/javascript; charset=utf-8', 'dashboard.css': 'text/css; charset=utf-8' };
const dashboardFiles = Object.fromEntries(files.map((f) => [f, readFileSync(new URL(`./dashboard/${f}`, import.meta.url))])) as Record<(typeof files)[number], Buffer>;

// Scripts and styles from this origin only (no inline script: nothing injected can run); thumbnails come
// from the relays, on other origins.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' http: https: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface DashboardRoutesContext {
  hub: DashboardHub;
  snapshot: () => unknown;
  gate: AdminTokenGate;
  guard: HttpGuard;
  /** The in-process broadcaster's store (castnet dev), a broadcaster's admin routes (--key-issuer-url), or none. */
  issuer: () => StreamKeyIssuer | null;
}

export function dashboardRoutes(ctx: DashboardRoutesContext): Router {
  const router = Router();
  const serve = (name: (typeof files)[number]) => (_req: unknown, res: Response) => {
    res.set({ 'content-type': types[name], 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache' }).send(dashboardFiles[name]);
  };
  router.get('/dashboard', serve('index.html'));
  router.get('/dashboard/', serve('index.html'));
  router.get('/dashboard/dashboard.js', serve('dashboard.js'));
  router.get('/dashboard/dashboard.css', serve('dashboard.css'));
  router.get('/dashboard/snapshot', (_req, res) => {
    res.set('cache-control', 'no-store').json(ctx.snapshot());
  });
  router.get('/dashboard/events', (req, res) => {
    res.status(200).set({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    // Past the cap this throws before anything is written: the error handler answers 503 with its reason.
    ctx.hub.subscribe(res);
    // An event stream never ends on its own: no request timeout for it (the guard's apply to requests).
    req.socket.setTimeout(0);
  });
  const issuer = () => {
    const i = ctx.issuer();
    if (!i) throw new CastnetError('UNAVAILABLE', 'this orchestrator has no broadcaster attached to make stream keys: run `castnet keys add` where the broadcaster runs, or start the orchestrator with --key-issuer-url and --key-issuer-token-file', { reason: 'no_key_issuer' });
    return i;
  };
  const gate: RequestHandler = (req, _res, next) => {
    ctx.gate.check(req);
    next();
  };
  // The token first, then a bounded body (the page's button sends none): an anonymous request reads nothing.
  router.post('/dashboard/stream-keys', gate, ...ctx.guard.rawBody('a stream-key request', STREAM_KEY_CREATE_MAX_BYTES), async (req, res) => {
    res.status(201).set('cache-control', 'no-store').json(await issuer().create(parseStreamKeyCreateBody(req.body as Buffer)));
  });
  router.get('/dashboard/stream-keys', gate, async (_req, res) => {
    res.set('cache-control', 'no-store').json(await issuer().list());
  });
  return router;
}
