// The one client of the orchestrator's HTTP API, for every role: node registration and heartbeats, stream
// sessions, the relay lookup, the public directory and node list, admission, and the ledger (accounts,
// deposits, redemptions). Every write is signed with the identity it was given (protocol/signed-request.ts):
// a node's, a broadcaster's or the operator's key. Requests are checked against the schemas the
// orchestrator parses them with, answers (read up to a byte limit, redirects never followed) against the
// answer schemas beside them, and failures are decoded in protocol/http-failure.ts.

import type { z } from 'zod';
import { admissionAnswerSchema, admissionChangeSchema, type AdmissionAnswer } from './admission.ts';
import { CastnetError } from './errors.ts';
import { describeIssues } from './fields.ts';
import { failureFromNetwork, failureFromResponse } from './http-failure.ts';
import type { Identity } from './identity.ts';
import { readLimited } from './read-limited.ts';
import { signRequest } from './signed-request.ts';
import { heartbeatSchema, nodeListingSchema, nodeRegistrationSchema, registrationAnswerSchema, type NodeListing, type NodeLoad, type NodeRegistration, type RegistrationAnswer } from './node-record.ts';
import { accountJsonSchema, depositRequest, depositRequestSchema, redemptionAnswerSchema, redemptionRequestSchema, type AccountJson, type RedemptionAnswer, type redemptionRequest } from './redemption.ts';
import { withdrawalAnswerSchema, withdrawalRequestSchema, type WithdrawalAnswer, type withdrawalRequest } from './withdrawal.ts';
import { streamStatusSchema, type StreamStatus } from './stream-status.ts';
import { recordingReportSchema, type RecordingReport } from './recording-report.ts';
import { webhookDeliverySchema, type WebhookDeliveryListing } from './webhook.ts';
import { assignmentSchema, relayListSchema, sessionRequestSchema, streamDirectoryEntrySchema, type Assignment, type StreamDirectoryEntry } from './stream-record.ts';

/** Control-plane calls answer fast or not at all; redemptions may wait on the ledger's write lock. */
const CALL_TIMEOUT_MS = 5_000;
const REDEEM_TIMEOUT_MS = 10_000;
/** Lookups on a viewer's or a segment's path (a relay finding a parent, a transcoder checking a sender's funds). */
const LOOKUP_TIMEOUT_MS = 3_000;
/** Answers are small JSON; lists (nodes, streams, accounts) may be long on a large network. */
const ANSWER_MAX_BYTES = 1024 * 1024;
const LIST_MAX_BYTES = 32 * 1024 * 1024;

export interface OrchestratorClientComponents {
  fetch?: typeof globalThis.fetch;
  /** The key every write is signed with; without one, writes go unsigned (and the orchestrator refuses those that need a signer). */
  identity?: Identity;
  now?: () => number;
}

interface Call<T> {
  what: string;
  method?: 'GET' | 'POST' | 'DELETE';
  path: string;
  /** Checked against this schema before it is sent; sent as given. */
  body?: { value: unknown; schema: z.ZodType };
  /** The answer's schema; none: the answer is not read (204). */
  answer?: z.ZodType<T>;
  timeoutMs?: number;
  maxBytes?: number;
}

export class OrchestratorClient {
  readonly baseUrl: string;
  private readonly fetch: typeof globalThis.fetch;
  private readonly identity: Identity | null;
  private readonly now: () => number;
  /** Timestamps of this client's signed requests only rise, so two alike within a millisecond never read as a replay. */
  private lastSignedAt = 0;

  constructor(baseUrl: string, components: OrchestratorClientComponents = {}) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
    this.fetch = components.fetch ?? globalThis.fetch;
    this.identity = components.identity ?? null;
    this.now = components.now ?? Date.now;
  }

  /** The address writes are signed as; null without a key. */
  get signer(): string | null {
    return this.identity?.address ?? null;
  }

  private async call<T>(call: Call<T>): Promise<T> {
    if (call.body) {
      const checked = call.body.schema.safeParse(call.body.value);
      if (!checked.success) throw new CastnetError('BAD_REQUEST', `${call.what}: invalid request: ${describeIssues(checked.error)}`, { node: this.baseUrl });
    }
    const url = `${this.baseUrl}${call.path}`;
    const method = call.method ?? 'GET';
    // Signed over the very bytes sent, and the path as the orchestrator receives it.
    const body = call.body ? new TextEncoder().encode(JSON.stringify(call.body.value)) : undefined;
    const headers: Record<string, string> = body ? { 'content-type': 'application/json' } : {};
    if (method !== 'GET' && this.identity) {
      const target = new URL(url);
      this.lastSignedAt = Math.max(this.now(), this.lastSignedAt + 1);
      Object.assign(headers, signRequest(this.identity, { method, path: `${target.pathname}${target.search}`, body, timestamp: this.lastSignedAt }));
    }
    let res: Response;
    try {
      res = await this.fetch(url, { method, headers, ...(body ? { body } : {}), redirect: 'manual', signal: AbortSignal.timeout(call.timeoutMs ?? CALL_TIMEOUT_MS) });
    } catch (err) {
      throw failureFromNetwork(err, call.what, url, this.baseUrl);
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => {});
      throw new CastnetError('UPSTREAM_FAILED', `${call.what}: the orchestrator at ${this.baseUrl} answered ${res.status}, a redirect, which is not followed`, { node: this.baseUrl, status: res.status, reason: 'redirect' });
    }
    if (!res.ok) throw await failureFromResponse(res, call.what, this.baseUrl);
    if (!call.answer) {
      await res.body?.cancel();
      return undefined as T;
    }
    let json: unknown;
    try {
      json = JSON.parse((await readLimited(res, call.maxBytes ?? ANSWER_MAX_BYTES, { node: this.baseUrl })).toString('utf8'));
    } catch (err) {
      if (err instanceof CastnetError) throw new CastnetError('UPSTREAM_FAILED', `${call.what}: ${err.message}`, { node: this.baseUrl, status: res.status, reason: 'too_large' });
      json = undefined;
    }
    const parsed = call.answer.safeParse(json);
    if (!parsed.success) throw new CastnetError('UPSTREAM_FAILED', `${call.what}: the orchestrator's answer is invalid: ${describeIssues(parsed.error)}`, { node: this.baseUrl, status: res.status });
    return parsed.data;
  }

  register(registration: z.input<typeof nodeRegistrationSchema>): Promise<RegistrationAnswer> {
    return this.call({ what: 'node registration', method: 'POST', path: '/api/nodes', body: { value: registration, schema: nodeRegistrationSchema }, answer: registrationAnswerSchema });
  }

  heartbeat(nodeId: string, load: NodeLoad, stats?: NodeRegistration['stats']): Promise<void> {
    return this.call({ what: 'heartbeat', method: 'POST', path: `/api/nodes/${encodeURIComponent(nodeId)}/heartbeat`, body: { value: { load, stats }, schema: heartbeatSchema } });
  }

  /** Every registered node, with the streams assigned to it. */
  nodes(): Promise<NodeListing[]> {
    return this.call({ what: 'node list', path: '/api/nodes', answer: nodeListingSchema.array(), maxBytes: LIST_MAX_BYTES });
  }

  openSession(request: z.input<typeof sessionRequestSchema>): Promise<Assignment> {
    return this.call({ what: 'session request', method: 'POST', path: '/api/streams', body: { value: request, schema: sessionRequestSchema }, answer: assignmentSchema });
  }

  /** Ends the session; only the key that opened it may. */
  closeSession(playbackId: string): Promise<void> {
    return this.call({ what: 'session close', method: 'DELETE', path: `/api/streams/${encodeURIComponent(playbackId)}` });
  }

  /** The stream's origin relay reports its recording ready (a `recording.ready` webhook, the stream status's `recording`). */
  reportRecording(playbackId: string, report: RecordingReport): Promise<void> {
    return this.call({ what: 'recording report', method: 'POST', path: `/api/streams/${encodeURIComponent(playbackId)}/recording`, body: { value: report, schema: recordingReportSchema } });
  }

  /** The webhook delivery log, newest first (of one stream, or all). */
  webhookDeliveries(playbackId?: string): Promise<WebhookDeliveryListing[]> {
    return this.call({ what: 'webhook deliveries', path: `/api/webhooks/deliveries${playbackId ? `?playbackId=${encodeURIComponent(playbackId)}` : ''}`, answer: webhookDeliverySchema.array(), maxBytes: LIST_MAX_BYTES });
  }

  /** The public stream directory. */
  streams(): Promise<StreamDirectoryEntry[]> {
    return this.call({ what: 'stream directory', path: '/api/streams', answer: streamDirectoryEntrySchema.array(), maxBytes: LIST_MAX_BYTES });
  }

  /** One stream's status (lifecycle, viewers; relay, renditions and publisher key while live); STREAM_NOT_FOUND when it is unknown. */
  stream(playbackId: string): Promise<StreamStatus> {
    return this.call({ what: 'stream lookup', path: `/api/streams/${encodeURIComponent(playbackId)}`, answer: streamStatusSchema, timeoutMs: LOOKUP_TIMEOUT_MS });
  }

  /** Relays that can serve a stream, best first; `holding`: only those holding it as origin (an edge's parents). */
  relaysFor(playbackId: string, options: { holding?: boolean } = {}): Promise<string[]> {
    return this.call({ what: 'relay lookup', path: `/api/streams/${encodeURIComponent(playbackId)}/relays${options.holding ? '?holding=1' : ''}`, answer: relayListSchema, timeoutMs: LOOKUP_TIMEOUT_MS });
  }

  accounts(): Promise<AccountJson[]> {
    return this.call({ what: 'ledger accounts', path: '/api/ledger/accounts', answer: accountJsonSchema.array(), maxBytes: LIST_MAX_BYTES });
  }

  /** An account; with `recipient`, also what one winning ticket from it pays that recipient now (`payable`). */
  account(address: string, recipient?: string): Promise<AccountJson> {
    const query = recipient ? `?recipient=${encodeURIComponent(recipient)}` : '';
    return this.call({ what: 'ledger account', path: `/api/ledger/accounts/${encodeURIComponent(address)}${query}`, answer: accountJsonSchema, timeoutMs: LOOKUP_TIMEOUT_MS });
  }

  /** The admission mode, operator addresses, allow and deny lists, and current bans. */
  admission(): Promise<AdmissionAnswer> {
    return this.call({ what: 'admission list', path: '/api/admission', answer: admissionAnswerSchema, maxBytes: LIST_MAX_BYTES });
  }

  /** Puts a node key on the allow or deny list, or off both (null); signed by the operator's key. */
  setAdmission(address: string, list: 'allow' | 'deny' | null): Promise<void> {
    return this.call({ what: 'admission change', method: 'POST', path: '/api/admission', body: { value: { address, list }, schema: admissionChangeSchema } });
  }

  /** Adds `amount` to the address's deposit and `reserve` to its reserve (operator only); answers the account after. */
  deposit(address: string, amount: bigint, reserve = 0n): Promise<AccountJson> {
    return this.call({ what: 'deposit', method: 'POST', path: '/api/ledger/deposits', body: { value: depositRequest(address, amount, reserve), schema: depositRequestSchema }, answer: accountJsonSchema });
  }

  /** Moves earnings out of the ledger; the request is signed by the account's key (protocol/withdrawal.ts). */
  withdraw(request: ReturnType<typeof withdrawalRequest>): Promise<WithdrawalAnswer> {
    return this.call({ what: 'withdrawal', method: 'POST', path: '/api/ledger/withdrawals', body: { value: request, schema: withdrawalRequestSchema }, answer: withdrawalAnswerSchema });
  }

  /** The orchestrator's `GET /healthz`: resolves when it answers, rejects naming the URL when it does not. */
  health(): Promise<void> {
    return this.call({ what: 'health check', path: '/healthz', timeoutMs: LOOKUP_TIMEOUT_MS });
  }

  /** Redeems a winning ticket; a refusal keeps the ledger's code (ALREADY_REDEEMED, TICKET_INVALID …). */
  redeem(request: ReturnType<typeof redemptionRequest>): Promise<RedemptionAnswer> {
    return this.call({ what: 'redemption', method: 'POST', path: '/api/ledger/redemptions', body: { value: request, schema: redemptionRequestSchema }, answer: redemptionAnswerSchema, timeoutMs: REDEEM_TIMEOUT_MS });
  }
}
