// Presence over HTTP with one orchestrator: a node registers, heartbeats at the interval the orchestrator
// asks for, and registers again when a heartbeat answers NODE_NOT_FOUND or the orchestrator was
// unreachable (e.g. after the orchestrator restarted and forgot it). Both are signed by the node's key
// (the client's identity). An outage is logged once, as a warning naming the URL, and its end once, as
// info: not a warning per retry; so is a refusal (banned, denied, not on the allowlist, a private URL).

import type { Logger } from '../observability/logger.ts';
import { CastnetError } from '../protocol/errors.ts';
import type { NodeRegistration } from '../protocol/node-record.ts';
import type { OrchestratorClient } from '../protocol/orchestrator-client.ts';

/** A clock this far from the orchestrator's is warned about at registration (writes are refused past 30 s). */
const CLOCK_SKEW_WARN_MS = 5_000;

export class NodeRegistrationLoop {
  private nodeId: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** When the orchestrator stopped answering; null while it answers. */
  private unreachableSince: number | null = null;
  /** The reason of the refusal last logged, so a refusal repeated every interval is logged once. */
  private refusedFor: string | null = null;
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
        const sentAt = Date.now();
        const answer = await this.client.register(this.registration());
        if (answer.orchestratorTime !== undefined) {
          // The orchestrator's time at its answer against the middle of our round trip.
          const skewMs = Math.round((sentAt + Date.now()) / 2 - answer.orchestratorTime);
          if (Math.abs(skewMs) > CLOCK_SKEW_WARN_MS) this.logger.warn({ clockSkewMs: skewMs, orchestrator: this.client.baseUrl }, `this machine's clock is ${(skewMs / 1000).toFixed(1)} s ${skewMs > 0 ? 'ahead of' : 'behind'} the orchestrator's: signed writes and gossip records are refused past 30 s; sync it with NTP`);
          else this.logger.info({ clockSkewMs: skewMs }, 'clock agrees with the orchestrator');
        }
        this.nodeId = answer.id;
        this.intervalMs = answer.heartbeatIntervalMs;
        this.logger.info({ node: answer.id, state: answer.state, orchestrator: this.client.baseUrl }, 'registered with orchestrator');
        this.refusedFor = null;
        this.recovered();
      } else {
        const current = this.registration();
        await this.client.heartbeat(this.nodeId, current.load, current.stats);
        this.recovered();
      }
    } catch (err) {
      if (err instanceof CastnetError && err.code === 'NODE_NOT_FOUND') {
        this.logger.info({ node: this.nodeId }, 'orchestrator forgot this node; registering again');
      } else if (err instanceof CastnetError && err.context.status !== undefined && err.context.status !== 503 && (err.context.status as number) >= 400 && (err.context.status as number) < 500) {
        // Refused, not unreachable: said once per reason, retried as the operator may lift it.
        this.recovered();
        const reason = String(err.context.reason ?? err.code);
        if (this.refusedFor !== reason) this.logger.warn({ err, reason, orchestrator: this.client.baseUrl }, `the orchestrator at ${this.client.baseUrl} refuses this node: ${err.message}`);
        this.refusedFor = reason;
      } else if (this.unreachableSince === null) {
        this.unreachableSince = Date.now();
        this.logger.warn({ err, orchestrator: this.client.baseUrl }, `the orchestrator at ${this.client.baseUrl} does not answer (${(err as Error).message}): not registered yet, retrying every ${this.intervalMs / 1000} s`);
      } else {
        this.logger.debug({ err, orchestrator: this.client.baseUrl }, 'orchestrator still unreachable; will retry');
      }
      this.nodeId = null;
    }
    this.schedule();
  }

  private recovered(): void {
    if (this.unreachableSince === null) return;
    this.logger.info({ orchestrator: this.client.baseUrl, downMs: Date.now() - this.unreachableSince }, `the orchestrator at ${this.client.baseUrl} answers again`);
    this.unreachableSince = null;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
