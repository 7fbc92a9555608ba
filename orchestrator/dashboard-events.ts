// The dashboard's "recent events": a bounded, newest-first list written from the orchestrator's domain
// events (streams started and ended, nodes registered, lost and banned, failure reports, deposits,
// redemptions, webhook deliveries that failed). In memory only: the persisted truths are the ledger, the
// lifecycle and the webhook log, which the snapshot reads directly.

import type { Ledger } from './ledger.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { NodeReputation } from './node-reputation.ts';
import type { StreamLifecycle, StreamRecord } from './stream-lifecycle.ts';
import type { StreamSessions } from './stream-sessions.ts';
import type { WebhookQueue } from './webhook-queue.ts';

export const DASHBOARD_EVENTS = 100;
/** Ended streams the dashboard keeps showing beside the live ones. */
export const DASHBOARD_ENDED_STREAMS = 10;

export type DashboardEventKind = 'stream' | 'node' | 'failure' | 'ban' | 'ledger' | 'webhook';

export interface DashboardEvent {
  at: string;
  kind: DashboardEventKind;
  /** Warnings and failures are shown as such. */
  level: 'info' | 'warn';
  text: string;
}

export interface DashboardEventsOptions {
  nodes: NodeRegistry;
  streams: StreamSessions;
  lifecycle: StreamLifecycle;
  reputation: NodeReputation;
  ledger: Ledger | null;
  webhookQueue: WebhookQueue;
  now?: () => number;
}

export class DashboardEvents {
  private readonly list: DashboardEvent[] = [];
  private readonly endedStreams: StreamRecord[] = [];
  private readonly now: () => number;
  private readonly unlisten: () => void;

  constructor(o: DashboardEventsOptions) {
    this.now = o.now ?? Date.now;
    const add = (kind: DashboardEventKind, text: string, level: DashboardEvent['level'] = 'info') => this.add(kind, text, level);
    const onStarted = (r: StreamRecord) => add('stream', `stream ${r.playbackId} went live`);
    const onEnded = (r: StreamRecord) => {
      this.endedStreams.unshift(r);
      this.endedStreams.length = Math.min(this.endedStreams.length, DASHBOARD_ENDED_STREAMS);
      add('stream', `stream ${r.playbackId} ended (${r.endReason === 'expired' ? 'its broadcaster stopped refreshing it' : 'its broadcaster closed it'})`);
    };
    const onAdded = (n: { role: string; url: string; id: string }) => add('node', `${n.role} ${n.id} registered at ${n.url}`);
    const onLost = (n: { role: string; id: string }) => add('node', `${n.role} ${n.id} lost: heartbeats stopped`, 'warn');
    const onProofFailed = (n: { role: string; id: string }, reason: string) => add('node', `${n.role} ${n.id} failed its URL proof (${reason})`, 'warn');
    const onFailure = (r: { playbackId: string; node: string; reason: string; counted: boolean }) => {
      if (r.counted) add('failure', `failure reported on ${r.node} for stream ${r.playbackId}: ${r.reason}`, 'warn');
    };
    const onBanned = (b: { address: string; until: number; reason: string }) => add('ban', `node ${b.address} banned until ${new Date(b.until).toISOString()}: ${b.reason}`, 'warn');
    const onFunded = (a: { address: string }, d: { deposit: bigint; reserve: bigint }) => add('ledger', `deposit to ${a.address}: ${d.deposit} wei (reserve ${d.reserve} wei)`);
    const onRedeemed = (r: { ticketHash: string; paid: bigint }, p: { sender: string; recipient: string }) => add('ledger', `ticket redeemed: ${r.paid} wei from ${p.sender} to ${p.recipient}`);
    const onWebhookFailed = (d: { type: string; url: string; lastError: string | null; lastStatus: number | null }) => add('webhook', `webhook ${d.type} to ${d.url} failed for good: ${d.lastError ?? `HTTP ${d.lastStatus}`}`, 'warn');
    o.lifecycle.on('started', onStarted).on('ended', onEnded);
    o.nodes.on('added', onAdded).on('lost', onLost).on('proofFailed', onProofFailed);
    o.streams.on('failureReported', onFailure);
    o.reputation.on('banned', onBanned);
    o.ledger?.on('funded', onFunded).on('redeemed', onRedeemed);
    o.webhookQueue.on('failed', onWebhookFailed);
    this.unlisten = () => {
      o.lifecycle.off('started', onStarted).off('ended', onEnded);
      o.nodes.off('added', onAdded).off('lost', onLost).off('proofFailed', onProofFailed);
      o.streams.off('failureReported', onFailure);
      o.reputation.off('banned', onBanned);
      o.ledger?.off('funded', onFunded).off('redeemed', onRedeemed);
      o.webhookQueue.off('failed', onWebhookFailed);
    };
  }

  add(kind: DashboardEventKind, text: string, level: DashboardEvent['level'] = 'info'): void {
    this.list.unshift({ at: new Date(this.now()).toISOString(), kind, level, text });
    if (this.list.length > DASHBOARD_EVENTS) this.list.length = DASHBOARD_EVENTS;
  }

  /** Newest first. */
  recent(): ReadonlyArray<DashboardEvent> {
    return this.list;
  }

  /** The streams that ended since this orchestrator started, newest first. */
  ended(): ReadonlyArray<StreamRecord> {
    return this.endedStreams;
  }

  close(): void {
    this.unlisten();
  }
}
