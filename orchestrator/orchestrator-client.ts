// The client side of the orchestrator's API: nodes register and heartbeat (re-registering when the
// orchestrator has forgotten them, e.g. after its restart); broadcasters open and refresh stream sessions.

import type { NodeLoad, NodeRegistration, RegistrationAnswer } from '../protocol/node-record.ts';
import type { Assignment, SessionRequest } from '../protocol/stream-record.ts';
import { CastnetError, isErrorCode } from '../protocol/errors.ts';
import type { Logger } from '../observability/logger.ts';

async function call<T>(url: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<T> {
  const res = await fetch(url, {
    ...init,
    headers: { 'content-type': 'application/json', ...(init.headers ?? {}) },
    signal: AbortSignal.timeout(init.timeoutMs ?? 5_000),
  });
  if (res.status === 204) return undefined as T;
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  if (!res.ok) {
    const code = isErrorCode(body.error?.code) ? body.error.code : 'UPSTREAM_FAILED';
    throw new CastnetError(code, body.error?.message ?? `orchestrator answered ${res.status}`, { status: res.status });
  }
  return body as T;
}

export class OrchestratorClient {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
  }

  register(registration: NodeRegistration): Promise<RegistrationAnswer> {
    return call(`${this.baseUrl}/api/nodes`, { method: 'POST', body: JSON.stringify(registration) });
  }

  heartbeat(nodeId: string, load: NodeLoad, stats?: NodeRegistration['stats']): Promise<void> {
    return call(`${this.baseUrl}/api/nodes/${encodeURIComponent(nodeId)}/heartbeat`, { method: 'POST', body: JSON.stringify({ load, stats }) });
  }

  openSession(request: SessionRequest): Promise<Assignment> {
    return call(`${this.baseUrl}/api/streams`, { method: 'POST', body: JSON.stringify(request) });
  }

  closeSession(playbackId: string): Promise<void> {
    return call(`${this.baseUrl}/api/streams/${encodeURIComponent(playbackId)}`, { method: 'DELETE' });
  }
}

/**
 * Keeps a node registered: registers, heartbeats at the interval the orchestrator asks for, and registers
 * again when a heartbeat answers NODE_NOT_FOUND or the orchestrator was unreachable.
 */
export class NodeRegistrationLoop {
  private nodeId: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private intervalMs = 2_000;
  private readonly client: OrchestratorClient;
  private readonly registration: () => NodeRegistration;
  private readonly logger: Logger;

  constructor(client: OrchestratorClient, registration: () => NodeRegistration, logger: Logger) {
    this.client = client;
    this.registration = registration;
    this.logger = logger;
  }

  get id(): string | null {
    return this.nodeId;
  }

  /** Registers once (retrying in the background if the orchestrator is not up yet). */
  async start(): Promise<void> {
    await this.tick();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      if (!this.nodeId) {
        const answer = await this.client.register(this.registration());
        this.nodeId = answer.id;
        this.intervalMs = answer.heartbeatIntervalMs;
        this.logger.info({ node: answer.id, orchestrator: this.client.baseUrl }, 'registered with orchestrator');
      } else {
        const current = this.registration();
        await this.client.heartbeat(this.nodeId, current.load, current.stats);
      }
    } catch (err) {
      if (err instanceof CastnetError && err.code === 'NODE_NOT_FOUND') {
        this.logger.info({ node: this.nodeId }, 'orchestrator forgot this node; registering again');
        this.nodeId = null;
      } else {
        this.logger.warn({ err: (err as Error).message, orchestrator: this.client.baseUrl }, 'orchestrator unreachable; will retry');
        this.nodeId = null;
      }
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
