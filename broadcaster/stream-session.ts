// One stream's session with the orchestrator, and the one owner of the stream's assignment (its relay and
// transcoders): opened before a publish is accepted, refreshed periodically, reassigned when a node fails
// (rate-limited), closed when the stream ends. Everyone else reads `assignment` and asks for a reassignment,
// naming why the nodes failed: the reason travels as a failure report (protocol/failure-report.ts) and
// weighs on the node's reputation at the orchestrator. Requests are signed by the broadcaster's key (the
// orchestrator client's identity), which owns the session.

import { EventEmitter } from 'node:events';
import type { SignedPlaybackPolicy } from '../protocol/playback-policy.ts';
import type { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import type { Assignment, DeliveryTerms, SessionRequest, StreamWarning } from '../protocol/stream-record.ts';
import type { KnownFailureReason } from '../protocol/failure-report.ts';
import type { WebhookEndpoint } from '../protocol/webhook.ts';
import { systemTimers, type TimerHandle, type Timers } from './timers.ts';

/** At most one failure-driven reassignment this often, however many segments fail. */
const REASSIGN_INTERVAL_MS = 1_000;

/** What a session needs of the orchestrator. */
export type SessionOrchestrator = Pick<OrchestratorClient, 'openSession' | 'closeSession'>;

export type SessionRenditions = SessionRequest['renditions'];

/** Why nodes are avoided: a known reason, or any other code (protocol/failure-report.ts). */
export type FailureReason = KnownFailureReason | (string & {});

export interface StreamSessionOptions {
  playbackId: string;
  /** How the orchestrator lists this broadcaster (its RTMP address). */
  broadcaster: string;
  /** The most paid to a transcoder, in wei per output pixel. */
  maxPricePerPixel: bigint;
  /** Transcoders with one of these encoders only (the scheduler's encoder rule); empty: any. */
  encoders?: ReadonlyArray<string>;
  refreshMs: number;
  /** The stream's publisher key, bound to its playback id in the directory; relays accept only what it signed. */
  publisher?: string;
  /** Paid delivery terms, read at each request (the payer's URL is known once its HTTP server listens). */
  delivery?: () => DeliveryTerms | null;
  /** The stream key's webhook receivers, for the orchestrator to deliver the stream's events to. */
  webhooks?: ReadonlyArray<WebhookEndpoint>;
  /** Who may watch, signed by the publisher key: the directory shows it to edges. */
  playbackPolicy?: SignedPlaybackPolicy;
}

export interface StreamSessionComponents {
  orchestrator: SessionOrchestrator;
  timers?: Timers;
}

export interface StreamSessionEvents {
  /** A failure-driven request answered; `changed` when the relay or first transcoder is another. */
  reassigned: [{ assignment: Assignment; previous: Assignment | null; avoid: string[]; reason: FailureReason; changed: boolean }];
  reassignFailed: [{ avoid: string[]; err: unknown }];
  refreshFailed: [{ err: unknown }];
  /** A background refresh answered (after a failed one, the orchestrator is back). */
  refreshed: [];
  closed: [];
  closeFailed: [{ err: unknown }];
}

export class StreamSession extends EventEmitter<StreamSessionEvents> {
  readonly playbackId: string;
  private current: Assignment | null = null;
  private renditions: SessionRenditions = [];
  private warnings: StreamWarning[] = [];
  private startedAtMs: number;
  private refreshTimer: TimerHandle | null = null;
  private reassignBusy = false;
  private ended = false;
  private readonly options: StreamSessionOptions;
  private readonly orchestrator: SessionOrchestrator;
  private readonly timers: Timers;

  constructor(options: StreamSessionOptions, components: StreamSessionComponents) {
    super();
    this.options = options;
    this.playbackId = options.playbackId;
    this.orchestrator = components.orchestrator;
    this.timers = components.timers ?? systemTimers;
    this.startedAtMs = this.timers.now();
  }

  /** The stream's relay and transcoders; null until the session is open. */
  get assignment(): Assignment | null {
    return this.current;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** What later requests tell the orchestrator: the renditions offered, when the publication began, what is wrong with it. */
  describe(description: { renditions?: SessionRenditions; startedAt?: number; warnings?: StreamWarning[] }): void {
    if (description.renditions) this.renditions = description.renditions;
    if (description.warnings) this.warnings = description.warnings;
    if (description.startedAt !== undefined) this.startedAtMs = description.startedAt;
  }

  /** Opens (or reopens, after a reconnect) the session; throws when the orchestrator has nowhere to send the stream. */
  async open(): Promise<Assignment> {
    this.ended = false;
    const assignment = await this.request([]);
    this.current = assignment;
    this.scheduleRefresh();
    return assignment;
  }

  /** Asks again with nothing to avoid, in the background: keeps the session alive and picks up better nodes. */
  refresh(): void {
    this.request([]).then(
      (assignment) => {
        if (!this.ended) this.current = assignment;
        this.emit('refreshed');
      },
      (err: unknown) => this.emit('refreshFailed', { err }),
    );
  }

  /** Asks for a new assignment avoiding the nodes that just failed (for `reason`), unless one was asked for within the last second. */
  reassign(avoid: string[], reason: FailureReason = 'unreachable'): void {
    if (this.reassignBusy || this.ended) return;
    this.reassignBusy = true;
    void this.reassignNow(avoid, reason).finally(() => {
      this.timers.setTimeout(() => (this.reassignBusy = false), REASSIGN_INTERVAL_MS);
    });
  }

  /** Asks for a new assignment at once, whatever the rate; resolves with it, or null when the request failed. */
  async reassignNow(avoid: string[], reason: FailureReason = 'unreachable'): Promise<Assignment | null> {
    let assignment: Assignment;
    try {
      assignment = await this.request(avoid, reason);
    } catch (err) {
      this.emit('reassignFailed', { avoid, err });
      return null;
    }
    if (this.ended) return assignment;
    const previous = this.current;
    const changed = assignment.transcoder?.url !== previous?.transcoder?.url || assignment.relay.url !== previous?.relay.url;
    this.current = assignment;
    this.emit('reassigned', { assignment, previous, avoid, reason, changed });
    return assignment;
  }

  /** Ends the session at the orchestrator. Never throws: a failure is reported as `closeFailed`. */
  async close(): Promise<void> {
    this.abandon();
    try {
      await this.orchestrator.closeSession(this.playbackId);
      this.emit('closed');
    } catch (err) {
      this.emit('closeFailed', { err });
    }
  }

  /** Stops refreshing without telling the orchestrator (the broadcaster is stopping; the session lapses there). */
  abandon(): void {
    this.ended = true;
    this.timers.clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
  }

  private scheduleRefresh(): void {
    this.timers.clearTimeout(this.refreshTimer);
    this.refreshTimer = this.timers.setTimeout(() => {
      if (this.ended) return;
      this.refresh();
      this.scheduleRefresh();
    }, this.options.refreshMs);
  }

  private request(avoid: string[], reason?: FailureReason): Promise<Assignment> {
    return this.orchestrator.openSession({
      playbackId: this.playbackId,
      broadcaster: this.options.broadcaster,
      renditions: this.renditions,
      warnings: this.warnings,
      startedAt: new Date(this.startedAtMs).toISOString(),
      avoid,
      ...(avoid.length && reason ? { failures: avoid.map((node) => ({ node, reason })) } : {}),
      maxPricePerPixel: this.options.maxPricePerPixel.toString(),
      ...(this.options.encoders?.length ? { encoders: [...this.options.encoders] } : {}),
      ...(this.options.publisher ? { publisher: this.options.publisher } : {}),
      ...(this.options.delivery?.() ? { delivery: this.options.delivery()! } : {}),
      ...(this.options.webhooks?.length ? { webhooks: [...this.options.webhooks] } : {}),
      ...(this.options.playbackPolicy ? { playbackPolicy: this.options.playbackPolicy } : {}),
      // The relay the stream is on stays, so its viewers keep their relay.
      ...(this.current ? { preferRelay: this.current.relay.url } : {}),
    });
  }
}
