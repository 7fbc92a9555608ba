// Limits every node's HTTP server enforces before a route sees a request, since anyone can connect: open
// connections in all and per remote address, time to send the headers and the whole request, an upload that
// stops sending, and body sizes per route (from content-length before a byte is read, and while streaming).
// Each refusal is counted in castnet_<role>_http_refused_total{reason} and answered plainly.

import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import { CastnetError } from '../protocol/errors.ts';

export interface HttpLimits {
  /** Open connections in all; more are answered 503 and closed. */
  httpMaxConnections: number;
  /** Open connections from one remote address (browsers open about six; a NAT holds many browsers). */
  httpMaxConnectionsPerIp: number;
  /** From connect (or the end of the previous request) to the last header byte. */
  httpHeadersTimeoutMs: number;
  /** From connect to the last byte of the request body. */
  httpRequestTimeoutMs: number;
  /** Longest pause in a request body before the upload is called stalled (408, connection closed). */
  httpUploadIdleMs: number;
}

export const defaultHttpLimits: HttpLimits = {
  httpMaxConnections: 4096,
  httpMaxConnectionsPerIp: 256,
  httpHeadersTimeoutMs: 10_000,
  httpRequestTimeoutMs: 120_000,
  httpUploadIdleMs: 15_000,
};

export type HttpRefusal = 'max_connections' | 'max_connections_per_ip' | 'headers_timeout' | 'request_timeout' | 'upload_stalled' | 'body_too_large' | 'malformed';

/** Sockets refused at connect: a request the parser still reads from one is not handled. */
const refusedSockets = new WeakSet<Socket>();

function rawAnswer(status: number, reason: string, code: string, message: string): string {
  const body = JSON.stringify({ error: { code, message } });
  return `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** One per node: its limits, the refusal counter, and the hooks that enforce them on its server. */
export class HttpGuard {
  readonly limits: HttpLimits;
  private readonly refusedTotal: Counter<'reason'>;
  private readonly perAddress = new Map<string, number>();
  private open = 0;

  /** `limits` may be a role's whole options object: only the HttpLimits fields are read. */
  constructor(options: { role: string; registry: Registry; limits?: Partial<HttpLimits> }) {
    const given = options.limits ?? {};
    this.limits = Object.fromEntries(Object.entries(defaultHttpLimits).map(([k, v]) => [k, given[k as keyof HttpLimits] ?? v])) as unknown as HttpLimits;
    this.refusedTotal = new Counter({
      name: `castnet_${options.role}_http_refused_total`,
      help: 'HTTP connections and requests refused by a limit, by reason',
      labelNames: ['reason'],
      registers: [options.registry],
    });
  }

  refused(reason: HttpRefusal): void {
    this.refusedTotal.inc({ reason });
  }

  /** Connections open now. */
  get connections(): number {
    return this.open;
  }

  /** Node's own timers for headers and whole requests, checked often enough for the shortest of them. */
  serverOptions(): { connectionsCheckingInterval: number; headersTimeout: number; requestTimeout: number } {
    const shortest = Math.min(this.limits.httpHeadersTimeoutMs, this.limits.httpRequestTimeoutMs);
    return {
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(shortest / 4))),
      headersTimeout: Math.min(this.limits.httpHeadersTimeoutMs, this.limits.httpRequestTimeoutMs),
      requestTimeout: this.limits.httpRequestTimeoutMs,
    };
  }

  /** Hooks the caps and timeouts onto a server; `handle` is wrapped so refused sockets are not served. */
  attach(server: Server): void {
    // Ahead of Node's own listener: a refused socket gets its answer before the parser reads from it.
    server.prependListener('connection', (socket: Socket) => this.onConnection(socket));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
  }

  /** Wraps the request handler: refused sockets are ignored, bodies get the stalled-upload timer. */
  wrap(handler: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void {
    return (req, res) => {
      if (refusedSockets.has(req.socket)) return;
      if (hasBody(req)) this.watchUpload(req, res);
      handler(req, res);
    };
  }

  private onConnection(socket: Socket): void {
    const address = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
    const fromAddress = this.perAddress.get(address) ?? 0;
    const refusal: HttpRefusal | null =
      this.open >= this.limits.httpMaxConnections ? 'max_connections' : fromAddress >= this.limits.httpMaxConnectionsPerIp ? 'max_connections_per_ip' : null;
    if (refusal) {
      this.refused(refusal);
      refusedSockets.add(socket);
      socket.on('error', () => {});
      const message =
        refusal === 'max_connections'
          ? `this node holds its limit of ${this.limits.httpMaxConnections} connections: retry later`
          : `this node holds its limit of ${this.limits.httpMaxConnectionsPerIp} connections from one address: close some, or retry later`;
      socket.end(rawAnswer(503, 'Service Unavailable', 'TOO_MANY_CONNECTIONS', message));
      // A peer that never reads its answer does not keep the socket.
      setTimeout(() => socket.destroy(), 1_000).unref();
      return;
    }
    this.open++;
    this.perAddress.set(address, fromAddress + 1);
    socket.once('close', () => {
      this.open--;
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
    });
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (refusedSockets.has(socket)) return;
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
      socket.destroy();
      return;
    }
    // A request whose headers arrived (a response object exists) timed out in its body; else in its headers.
    const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    this.refused(timeout ? (response ? 'request_timeout' : 'headers_timeout') : 'malformed');
    if (socket.writable && (!response || !response.headersSent)) {
      socket.end(
        timeout
          ? rawAnswer(408, 'Request Timeout', 'REQUEST_TIMEOUT', 'the request was not received in time')
          : rawAnswer(err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400, err.code === 'HPE_HEADER_OVERFLOW' ? 'Request Header Fields Too Large' : 'Bad Request', 'BAD_REQUEST', 'malformed HTTP request'),
      );
    }
    socket.destroy();
  }

  /** A body that stops arriving for httpUploadIdleMs is cut off with 408, whatever route reads it. */
  private watchUpload(req: IncomingMessage, res: ServerResponse): void {
    const clear = () => req.socket?.setTimeout(0);
    req.setTimeout(this.limits.httpUploadIdleMs, () => {
      this.refused('upload_stalled');
      if (!res.headersSent) {
        res.writeHead(408, { connection: 'close', 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'REQUEST_TIMEOUT', message: `the upload sent nothing for ${this.limits.httpUploadIdleMs} ms` } }));
      }
      req.socket.destroySoon();
      setTimeout(() => req.socket.destroy(), 1_000).unref();
    });
    req.once('end', clear);
    res.once('finish', clear);
    res.once('close', clear);
  }

  /**
   * Reads a route's body as raw bytes into `req.body`, at most `maxBytes`: a larger content-length is refused
   * before a byte is read, and a body that grows past it while streaming is cut off at once (body-parser
   * would read the rest of it first). Both answer 413 PAYLOAD_TOO_LARGE and close the connection, so the
   * sender cannot keep pushing bytes that are thrown away.
   */
  rawBody(what: string, maxBytes: number): RequestHandler[] {
    return [(req, res, next) => this.read(req, res, next, what, maxBytes, false)];
  }

  /** The same for a JSON body (an empty body reads as {}); malformed JSON is 400 BAD_REQUEST. */
  jsonBody(what: string, maxBytes: number): RequestHandler[] {
    return [(req, res, next) => this.read(req, res, next, what, maxBytes, true)];
  }

  private read(req: Request, res: Response, next: NextFunction, what: string, maxBytes: number, json: boolean): void {
    const tooLarge = (said: string) => {
      this.refused('body_too_large');
      res.set('connection', 'close');
      // The rest of the body is not read: once the answer is out, the connection goes.
      res.once('finish', () => req.socket.destroySoon());
      next(new CastnetError('PAYLOAD_TOO_LARGE', `${what} may be at most ${maxBytes} bytes${said}`));
    };
    const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']);
    if (declared !== null && Number.isFinite(declared) && declared > maxBytes) return tooLarge(`; content-length says ${declared}`);
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    const finish = (err?: unknown) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', finish);
      req.off('aborted', onAborted);
      if (err) next(err);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) {
        finish();
        req.pause();
        tooLarge('');
        return;
      }
      chunks.push(chunk);
    };
    const onAborted = () => finish(new CastnetError('BAD_REQUEST', `${what} was cut off by the sender`));
    const onEnd = () => {
      if (done) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
      if (declared !== null && received !== declared) return finish(new CastnetError('BAD_REQUEST', `${what} is ${received} bytes; content-length says ${declared}`));
      if (!json) req.body = body;
      else if (received === 0) req.body = {};
      else {
        try {
          req.body = JSON.parse(body.toString('utf8'));
        } catch {
          return finish(new CastnetError('BAD_REQUEST', `${what} is not JSON`));
        }
      }
      finish();
      next();
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', finish);
    req.once('aborted', onAborted);
  }
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}
