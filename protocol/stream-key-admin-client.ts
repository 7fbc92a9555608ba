// The one client of a broadcaster's stream-key admin routes (protocol/stream-key-admin.ts), as the
// orchestrator's dashboard uses it when the broadcaster runs elsewhere. The broadcaster is another machine:
// every call has a deadline that covers the whole answer (a slow trickle too), the answer is read up to a
// byte limit and parsed by the contract's schemas, and every failure becomes one of three refusals the
// dashboard shows: 503 `key_issuer_unreachable` (no answer in time), 502 `key_issuer_failed` (the
// broadcaster refused, its own reason kept as `issuerReason`), 502 `key_issuer_bad_answer` (not the contract).

import type { z } from 'zod';
import { CastnetError } from './errors.ts';
import { describeIssues } from './fields.ts';
import { failureFromResponse } from './http-failure.ts';
import { readLimited } from './read-limited.ts';
import { STREAM_KEY_ADMIN_PATH, STREAM_KEY_ANSWER_MAX_BYTES, streamKeyCreatedSchema, streamKeyCreateRequestSchema, streamKeyListSchema, type StreamKeyCreated, type StreamKeyCreateRequest, type StreamKeyIssuer, type StreamKeyList } from './stream-key-admin.ts';

/** Making a key is a file write on the broadcaster: milliseconds. A dashboard click must not wait longer. */
export const KEY_ISSUER_TIMEOUT_MS = 5_000;

/** How much of a broadcaster's error message is quoted in the refusal. */
const MAX_QUOTED_CHARS = 200;

export interface StreamKeyAdminClientOptions {
  /** The broadcaster's HTTP URL (its admin routes are under /admin). */
  baseUrl: string;
  /** The broadcaster's admin token (`castnet keys admin-token --data-dir <the broadcaster's>`). */
  token: string;
  /** Deadline of one call, answer included. */
  timeoutMs?: number;
  maxBytes?: number;
  /** The fetch calls go out with (the orchestrator's outbound policy: no redirects). */
  fetch?: typeof globalThis.fetch;
}

export class StreamKeyAdminClient implements StreamKeyIssuer {
  readonly baseUrl: string;
  private readonly token: string;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly fetch: typeof globalThis.fetch;

  constructor(options: StreamKeyAdminClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? KEY_ISSUER_TIMEOUT_MS;
    this.maxBytes = options.maxBytes ?? STREAM_KEY_ANSWER_MAX_BYTES;
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  create(request: StreamKeyCreateRequest): Promise<StreamKeyCreated> {
    return this.call('making a stream key', 'POST', streamKeyCreatedSchema, JSON.stringify(streamKeyCreateRequestSchema.parse(request)));
  }

  list(): Promise<StreamKeyList> {
    return this.call('listing stream keys', 'GET', streamKeyListSchema);
  }

  private async call<T>(what: string, method: 'GET' | 'POST', schema: z.ZodType<T>, body?: string): Promise<T> {
    const url = `${this.baseUrl}${STREAM_KEY_ADMIN_PATH}`;
    // One signal for the request and the read of its answer: a broadcaster that sends headers and then
    // trickles the body is cut off at the same deadline as one that never answers.
    const signal = AbortSignal.timeout(this.timeoutMs);
    const unreachable = (err: unknown) => {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      const detail = timedOut ? `did not answer within ${this.timeoutMs} ms` : `could not be reached (${err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)})`;
      return new CastnetError('UNAVAILABLE', `${what}: the broadcaster that makes stream keys ${detail}`, { reason: 'key_issuer_unreachable', node: this.baseUrl }, { cause: err });
    };
    let res: Response;
    try {
      res = await this.fetch(url, {
        method,
        headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body }),
        signal,
        redirect: 'manual',
      });
    } catch (err) {
      // The outbound policy refused what came back (a redirect: the token is not carried on elsewhere).
      if (err instanceof Error && err.name === 'OutboundRefusedError') throw new CastnetError('UPSTREAM_FAILED', `${what}: ${err.message}`, { reason: 'key_issuer_bad_answer', node: this.baseUrl });
      throw unreachable(err);
    }
    if (!res.ok) {
      // Any status, any body: decoded where every node's error answers are (bounded there).
      const remote = await failureFromResponse(res, 'status', this.baseUrl);
      // The broadcaster's words reach the operator's page: a hostile one gets a line, not a page.
      const said = remote.message.length > MAX_QUOTED_CHARS ? `${remote.message.slice(0, MAX_QUOTED_CHARS)}…` : remote.message;
      const reason = typeof remote.context.reason === 'string' ? remote.context.reason : remote.code.toLowerCase();
      const issuerReason = /^[a-z0-9_]{1,64}$/.test(reason) ? reason : 'unknown';
      throw new CastnetError('UPSTREAM_FAILED', `${what}: the broadcaster refused (${said})${res.status === 401 ? ': the orchestrator\'s --key-issuer-token-file does not hold that broadcaster\'s admin token' : ''}`, { reason: 'key_issuer_failed', issuerStatus: res.status, issuerReason, node: this.baseUrl });
    }
    let text: string;
    try {
      text = (await readLimited(res, this.maxBytes)).toString('utf8');
    } catch (err) {
      if (err instanceof CastnetError && err.code === 'PAYLOAD_TOO_LARGE') throw new CastnetError('UPSTREAM_FAILED', `${what}: the broadcaster's answer is larger than ${this.maxBytes} bytes`, { reason: 'key_issuer_bad_answer', node: this.baseUrl });
      throw unreachable(err);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CastnetError('UPSTREAM_FAILED', `${what}: the broadcaster's answer is not JSON`, { reason: 'key_issuer_bad_answer', node: this.baseUrl });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new CastnetError('UPSTREAM_FAILED', `${what}: the broadcaster's answer is not a stream-key answer (${describeIssues(parsed.error as z.ZodError)})`, { reason: 'key_issuer_bad_answer', node: this.baseUrl });
    return parsed.data;
  }
}
