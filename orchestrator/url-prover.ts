// Proves that a node's key answers at its URL (protocol/url-challenge.ts): a fresh nonce per attempt, one
// GET through the outbound fetch (no private addresses unless allowed, no redirects), the answer read up
// to URL_CHALLENGE_MAX_BYTES, the signature checked against the registering key. At most `concurrency`
// challenges run at once and `maxQueued` wait; past that a proof is refused as busy (and retried later by
// the registry), so a flood of registrations cannot make the orchestrator open unbounded connections.

import { randomBytes } from 'node:crypto';
import type { Fetch } from '../http/outbound-fetch.ts';
import { CastnetError } from '../protocol/errors.ts';
import { readLimited } from '../protocol/read-limited.ts';
import { URL_CHALLENGE_MAX_BYTES, URL_CHALLENGE_PATH, challengeAnswerSchema, provesAddress } from '../protocol/url-challenge.ts';

/** A node answers its challenge in milliseconds; one that takes longer is not ready to be scheduled. */
const CHALLENGE_TIMEOUT_MS = 5_000;

export interface UrlProverOptions {
  fetch: Fetch;
  concurrency?: number;
  maxQueued?: number;
  timeoutMs?: number;
}

const failed = (reason: string, message: string, url: string) => new CastnetError('FORBIDDEN', message, { url, reason });

export class UrlProver {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly fetch: Fetch;
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private readonly timeoutMs: number;

  constructor(options: UrlProverOptions) {
    this.fetch = options.fetch;
    this.concurrency = options.concurrency ?? 16;
    this.maxQueued = options.maxQueued ?? 1_000;
    this.timeoutMs = options.timeoutMs ?? CHALLENGE_TIMEOUT_MS;
  }

  /** Resolves when the key of `address` answered the challenge at `url`; rejects with the reason otherwise. */
  async prove(url: string, address: string): Promise<void> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxQueued) throw failed('proof_busy', 'too many URL proofs waiting: retried later', url);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running++;
    try {
      await this.challenge(url, address);
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }

  private async challenge(url: string, address: string): Promise<void> {
    const nonce = randomBytes(32).toString('hex');
    const target = `${url}${URL_CHALLENGE_PATH}?nonce=${nonce}`;
    let res: Response;
    try {
      res = await this.fetch(target, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const cause = err as Error & { reason?: string };
      if (typeof cause.reason === 'string') throw failed(cause.reason, `the URL challenge was not sent: ${cause.message}`, url);
      const detail = ((cause.cause as Error | undefined)?.message ?? cause.message) || String(err);
      throw failed(cause.name === 'TimeoutError' ? 'proof_timeout' : 'proof_unreachable', `${url} did not answer the URL challenge (${detail})`, url);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw failed('proof_refused', `${url} answered the URL challenge with ${res.status}`, url);
    }
    let json: unknown;
    try {
      json = JSON.parse((await readLimited(res, URL_CHALLENGE_MAX_BYTES, { url })).toString('utf8'));
    } catch (err) {
      throw failed('proof_malformed', `${url} answered the URL challenge with something else than a challenge answer (${(err as Error).message})`, url);
    }
    const answer = challengeAnswerSchema.safeParse(json);
    if (!answer.success) throw failed('proof_malformed', `${url} answered the URL challenge with something else than a challenge answer`, url);
    if (!provesAddress(answer.data, nonce, address)) {
      throw failed('proof_wrong_key', `the key answering at ${url} is ${answer.data.address}, not ${address}: a node registers only its own URL`, url);
    }
  }
}
