// The dashboard under /dashboard: the page and its script and style (plain files in ./dashboard/), the
// public snapshot (`/dashboard/snapshot`) and its live feed over server-sent events (`/dashboard/events`,
// dashboard-hub.ts), and the operator's stream-key routes, which need the admin token as a bearer header
// (http/admin-token.ts): no cookie is ever read, so another site cannot ride a browser's session (CSRF),
// and no CORS header is sent, so another origin's script cannot read the answers.

import { readFileSync } from 'node:fs';
import { Router, type Response } from 'express';
import { CastnetError } from '../protocol/errors.ts';
import type { AdminTokenGate } from '../http/admin-token.ts';
import type { DashboardHub } from './dashboard-hub.ts';

/** Where stream keys are made: the broadcaster's key store, attached by whoever runs both (castnet dev). */
export interface StreamKeyIssuer {
  /** A new configured key and the playback id it publishes to. */
  create(): { streamKey: string; playbackId: string };
  list(): Array<{ streamKey: string; playbackId: string; createdAt: string }>;
  /** OBS's Server field: `rtmp://<broadcaster>/live`. */
  readonly rtmpServer: string;
  /** Where viewers watch a playback id, when known. */
  watchUrl?(playbackId: string): string | null;
}

/** What OBS needs besides server and key (README: Stream from OBS). */
export const OBS_RECOMMENDED = {
  service: 'Custom…',
  keyframeInterval: '2 s (Advanced output mode: Keyframe Interval 2 s; Simple mode with x264: keyint=60 at 30 fps in Custom Encoder Settings)',
  video: 'H.264 8-bit 4:2:0 (NV12), Main or High profile',
  audio: 'AAC',
} as const;

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
    if (!i) throw new CastnetError('UNAVAILABLE', 'this orchestrator has no broadcaster attached to make stream keys: run `castnet keys add` where the broadcaster runs', { reason: 'no_key_issuer' });
    return i;
  };
  router.post('/dashboard/stream-keys', (req, res) => {
    ctx.gate.check(req);
    const i = issuer();
    const { streamKey, playbackId } = i.create();
    res.status(201).set('cache-control', 'no-store').json({ streamKey, playbackId, server: i.rtmpServer, watchUrl: i.watchUrl?.(playbackId) ?? null, obs: { ...OBS_RECOMMENDED, server: i.rtmpServer, streamKey } });
  });
  router.get('/dashboard/stream-keys', (req, res) => {
    ctx.gate.check(req);
    const i = issuer();
    res.set('cache-control', 'no-store').json({ server: i.rtmpServer, keys: i.list() });
  });
  return router;
}
