// Runs inside an attacker's own OS process (test/attacks/scripts/*.ts, started by test/support/attack.ts):
// the attack's arguments (JSON in argv[2]), an HTTP client bound to its own loopback address (127.0.0.2,
// so the orchestrator sees another source than the honest nodes on 127.0.0.1, as it would on a network),
// a way to record each attempt, and the report printed on stdout as one JSON line when it is done.

import { Agent } from 'undici';
import { CastnetError } from '../../protocol/errors.ts';

/** Where the attacker's requests come from. Linux routes all of 127.0.0.0/8 to the loopback interface. */
export const ATTACKER_ADDRESS = '127.0.0.2';

const agent = new Agent({ localAddress: ATTACKER_ADDRESS });

/** fetch, from ATTACKER_ADDRESS. */
export const attackerFetch: typeof fetch = (input, init) => fetch(input, { ...init, dispatcher: agent } as RequestInit);

export function attackArgs<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T;
}

/** One attempt and how the target answered it. */
export interface AttackStep {
  name: string;
  /** HTTP status, when an answer came. */
  status?: number;
  /** The CastnetError code and reason of a refusal. */
  code?: string;
  reason?: string;
  message?: string;
  /** Anything else the test wants to check. */
  [key: string]: unknown;
}

const steps: AttackStep[] = [];

/** Runs one attempt; records what it answered, or how it was refused. */
export async function attempt(name: string, run: () => Promise<Partial<AttackStep> | void>): Promise<AttackStep> {
  let step: AttackStep;
  try {
    step = { name, ...(await run()) };
  } catch (err) {
    step =
      err instanceof CastnetError
        ? { name, code: err.code, status: err.context.status as number | undefined, reason: err.context.reason as string | undefined, message: err.message }
        : { name, code: 'ERROR', message: err instanceof Error ? err.message : String(err) };
  }
  steps.push(step);
  return step;
}

/** A raw request from the attacker's address; answers status, and the error's code and reason if there is one. */
export async function rawRequest(url: string, init: RequestInit = {}): Promise<Partial<AttackStep>> {
  const res = await attackerFetch(url, { redirect: 'manual', ...init, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let error: { code?: string; reason?: string; message?: string } = {};
  try {
    error = (JSON.parse(text) as { error?: typeof error }).error ?? {};
  } catch {
    // Not JSON: the status says it.
  }
  return { status: res.status, ...(error.code ? { code: error.code } : {}), ...(error.reason ? { reason: error.reason } : {}), ...(error.message ? { message: error.message } : {}), ...(res.ok ? { body: text.slice(0, 2_000) } : {}) };
}

/** Prints the report and ends the process. */
export function finish(extra: Record<string, unknown> = {}): never {
  process.stdout.write(`${JSON.stringify({ steps, ...extra })}\n`);
  process.exit(0);
}
