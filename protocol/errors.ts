// Castnet's error type and the one mapping from error codes to HTTP statuses and JSON bodies.
// Every role reports failures through this, so clients see the same shape everywhere.

export type ErrorCode =
  | 'BAD_REQUEST'
  | 'NOT_FOUND'
  | 'INVALID_PATH'
  | 'INVALID_SEGMENT'
  | 'STREAM_NOT_FOUND'
  | 'SEGMENT_NOT_FOUND'
  | 'NODE_NOT_FOUND'
  | 'NO_NODE_AVAILABLE'
  | 'STREAM_KEY_REFUSED'
  | 'PUSH_REFUSED'
  | 'SIGNATURE_INVALID'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'RATE_LIMITED'
  | 'TRANSCODE_FAILED'
  | 'UPSTREAM_FAILED'
  | 'UPSTREAM_TIMEOUT'
  | 'UNAVAILABLE'
  | 'PAYLOAD_TOO_LARGE'
  | 'REQUEST_TIMEOUT'
  | 'TOO_MANY_CONNECTIONS'
  | 'RELAY_FULL'
  | 'PAYMENT_REQUIRED'
  | 'TICKET_INVALID'
  | 'ALREADY_REDEEMED'
  | 'INSUFFICIENT_FUNDS'
  | 'CHAIN_REFUSED'
  | 'INTERNAL';

const statusByCode: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  INVALID_PATH: 400,
  INVALID_SEGMENT: 422,
  STREAM_NOT_FOUND: 404,
  SEGMENT_NOT_FOUND: 404,
  NODE_NOT_FOUND: 404,
  NO_NODE_AVAILABLE: 503,
  STREAM_KEY_REFUSED: 403,
  /** An edge relay serves by pulling from parents and takes no pushes. */
  PUSH_REFUSED: 403,
  /** A signed request whose signature or timestamp does not hold (forged, stale). */
  SIGNATURE_INVALID: 401,
  /** An operator route without its bearer token or with a wrong one (http/admin-token.ts); a viewer request of a signed stream without a valid playback token (protocol/playback-token.ts). */
  UNAUTHORIZED: 401,
  /** A signed request from a key that may not do this (not the stream's owner, not an operator, a banned or denied node). */
  FORBIDDEN: 403,
  /** Too many requests or registrations from one source: retry later. */
  RATE_LIMITED: 429,
  TRANSCODE_FAILED: 500,
  UPSTREAM_FAILED: 502,
  UPSTREAM_TIMEOUT: 504,
  UNAVAILABLE: 503,
  PAYLOAD_TOO_LARGE: 413,
  REQUEST_TIMEOUT: 408,
  TOO_MANY_CONNECTIONS: 503,
  RELAY_FULL: 507,
  PAYMENT_REQUIRED: 402,
  TICKET_INVALID: 400,
  ALREADY_REDEEMED: 409,
  INSUFFICIENT_FUNDS: 409,
  /** A transaction or call the chain reverted; the context's reason is the chain's revert reason. */
  CHAIN_REFUSED: 409,
  INTERNAL: 500,
};

export interface ErrorContext {
  playbackId?: string;
  seq?: number;
  rendition?: string;
  node?: string;
  [key: string]: unknown;
}

export class CastnetError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CastnetError';
    this.code = code;
    this.context = context;
  }
}

/**
 * An error that carries a machine-readable reason from a closed set, used as a metric label and in logs:
 * a refused outbound request, a broken RTMP peer. The reason says why; the message says it for people.
 */
export class ReasonedError<Reason extends string> extends Error {
  readonly reason: Reason;

  constructor(name: string, reason: Reason, message: string) {
    super(message);
    this.name = name;
    this.reason = reason;
  }
}

export function httpStatusFor(code: ErrorCode): number {
  return statusByCode[code];
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string } & ErrorContext;
}

/** Context that names this node's insides (peers it talks to, its files): logged, never answered. */
const INTERNAL_CONTEXT = new Set(['node', 'url', 'file', 'dir', 'path', 'cause', 'stack']);
const URL_PATTERN = /\bhttps?:\/\/[^\s"',)]+/g;
const ADDRESS_PATTERN = /\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b|\[[0-9a-fA-F:.]+\](?::\d{1,5})?/g;
const FILE_PATTERN = /(?:\.{0,2}\/)?(?:\.castnet|(?<![\w.-])\/(?:tmp|home|var|work|usr|root|opt|etc|srv|run|mnt|data|proc))\/[^\s"',)]*/g;

/** A message as a client may read it: peer URLs, IP addresses and file paths of this machine replaced by what they are. */
export function clientMessage(message: string): string {
  return message.replace(URL_PATTERN, '(another node)').replace(ADDRESS_PATTERN, '(an address)').replace(FILE_PATTERN, '(a file of this node)');
}

/**
 * Any thrown value as the status and JSON body a node answers with. Unknown errors hide their message; a
 * CastnetError's message and context reach the client without the peer URLs and file paths they may name.
 */
export function errorResponse(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof CastnetError) {
    const context = Object.fromEntries(
      Object.entries(err.context)
        .filter(([k]) => !INTERNAL_CONTEXT.has(k))
        .map(([k, v]) => [k, typeof v === 'string' ? clientMessage(v) : v]),
    );
    return { status: httpStatusFor(err.code), body: { error: { ...context, code: err.code, message: clientMessage(err.message) } } };
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } };
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && value in statusByCode;
}
