// The HTTP skeleton every node shares: JSON errors from CastnetError, /healthz, /metrics, a guard against
// path traversal, and a listen/close pair that resolves the ephemeral port and enforces the node's HTTP
// limits (http-limits.ts).

import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { CastnetError, errorResponse } from '../protocol/errors.ts';
import type { Identity } from '../protocol/identity.ts';
import { URL_CHALLENGE_PATH, answerChallenge, challengeNonceSchema } from '../protocol/url-challenge.ts';
import type { Logger } from '../observability/logger.ts';
import { HttpGuard } from './http-limits.ts';
import { bindFailure } from './bind-failure.ts';

/** The version every node reports (package.json's). */
export const CASTNET_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** What `GET /` says about each role: a person or a script that reaches a port learns what answers there. */
const ROLE_SUMMARIES: Record<string, string> = {
  orchestrator: 'Castnet orchestrator: node registry, stream assignment and the public stream directory',
  transcoder: 'Castnet transcoder: POST /transcode turns one paid segment into the rendition ladder',
  relay: 'Castnet relay: HLS playlists and segments under /hls/<playbackId>/, watch pages under /watch/<playbackId>',
  broadcaster: 'Castnet broadcaster: RTMP ingest (publish to rtmp://<host>:<rtmp-port>/live/<stream key>)',
};

export function createNodeApp(options: { role: string; registry: Registry; health?: () => Record<string, unknown>; links?: Record<string, string>; identity?: Identity; guard?: HttpGuard }): Express {
  const app = express();
  // The node's HTTP limits: listen() enforces them on the server, body parsers and errors count through it.
  app.locals.guard = options.guard ?? new HttpGuard({ role: options.role, registry: options.registry });
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((req, _res, next) => {
    // Express routes never match `..`, but a raw request line can carry it (or its encoding): refuse it outright.
    const path = req.url.split('?')[0]!;
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return next(new CastnetError('INVALID_PATH', 'path is not valid percent-encoding'));
    }
    if (decoded.split(/[\\/]/).includes('..')) return next(new CastnetError('INVALID_PATH', 'path must not contain ".."'));
    next();
  });
  app.get('/', (_req, res) => {
    res.json({
      castnet: CASTNET_VERSION,
      role: options.role,
      about: ROLE_SUMMARIES[options.role] ?? `Castnet ${options.role}`,
      links: { health: '/healthz', metrics: '/metrics', ...(options.links ?? {}) },
    });
  });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', role: options.role, ...(options.health?.() ?? {}) });
  });
  if (options.identity) {
    const identity = options.identity;
    // The orchestrator's proof that this node's key answers at its URL (protocol/url-challenge.ts).
    app.get(URL_CHALLENGE_PATH, (req, res) => {
      const nonce = challengeNonceSchema.safeParse(req.query.nonce);
      if (!nonce.success) throw new CastnetError('BAD_REQUEST', 'a challenge needs ?nonce=<32 bytes of hex>');
      res.set('cache-control', 'no-store').json(answerChallenge(nonce.data, identity));
    });
  }
  app.get('/metrics', async (_req, res, next) => {
    try {
      res.type(options.registry.contentType).send(await options.registry.metrics());
    } catch (err) {
      next(err);
    }
  });
  return app;
}

/** Last middleware of every node: unknown routes → 404, errors → the JSON body of protocol/errors. */
export function finishNodeApp(app: Express, logger: Logger): void {
  app.use((req, _res, next) => next(new CastnetError('NOT_FOUND', `no route for ${req.method} ${req.path}`)));
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    let { status, body } = errorResponse(err);
    const parseError = err as { type?: string; status?: number; message?: string };
    if (!(err instanceof CastnetError) && parseError.type && parseError.status && parseError.status < 500) {
      status = parseError.status;
      if (status === 413) (app.locals.guard as HttpGuard).refused('body_too_large');
      body = { error: { code: status === 413 ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST', message: parseError.message ?? 'bad request' } };
    }
    if (status === 413) res.set('connection', 'close');
    if (status >= 500) logger.error({ err, path: req.path }, 'request failed');
    else logger.debug({ path: req.path, code: body.error.code }, 'request refused');
    if (!res.headersSent) res.status(status).json(body);
    else res.destroy();
  });
}

export interface ListeningServer {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** The guard of an app made by createNodeApp. */
export function guardOf(app: Express): HttpGuard {
  return app.locals.guard as HttpGuard;
}

/**
 * Listens with the node's HTTP limits: `guard` (or, for an app made by createNodeApp, its own) caps
 * connections, times headers, requests and uploads, and counts what it refuses.
 */
export function listen(handler: Express | RequestListener, host: string, port: number, guard?: HttpGuard): Promise<ListeningServer> {
  return new Promise((resolve, reject) => {
    const g = guard ?? ((handler as Partial<Express>).locals?.guard as HttpGuard | undefined) ?? null;
    const listener = handler as RequestListener;
    const server = g ? createServer(g.serverOptions(), g.wrap(listener)) : createServer(listener);
    g?.attach(server);
    server.listen(port, host);
    const onError = (err: NodeJS.ErrnoException) => reject(bindFailure(err, host, port));
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      server.keepAliveTimeout = 65_000;
      const actual = (server.address() as AddressInfo).port;
      resolve({
        server,
        port: actual,
        url: `http://${host}:${actual}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
