// Which events become webhooks, and to whom. The orchestrator owns webhooks: it is the one node that sees
// every stream's lifecycle (stream-lifecycle.ts), the failure reports about its transcoders and the
// recorder's reports, whichever broadcaster or relay carries it, and it keeps the delivery queue in
// SQLite. Each event goes to the global receivers (--webhook-urls, signed with --webhook-secret) and to
// the stream key's own (sent by its broadcaster in the session request, kept in the lifecycle record).

import { randomBytes } from 'node:crypto';
import type { WebhookEndpoint, WebhookEvent, WebhookEventType } from '../protocol/webhook.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { StreamLifecycle, StreamRecord } from './stream-lifecycle.ts';
import type { StreamSessions } from './stream-sessions.ts';
import type { WebhookQueue } from './webhook-queue.ts';

/** Failure reports about a stream's transcoders become at most one `stream.transcode_failed` this often. */
export const TRANSCODE_FAILED_INTERVAL_MS = 30_000;

export interface WebhooksOptions {
  queue: WebhookQueue;
  lifecycle: StreamLifecycle;
  streams: StreamSessions;
  nodes: NodeRegistry;
  /** Receivers of every stream's events. */
  global: ReadonlyArray<WebhookEndpoint>;
  now?: () => number;
}

export class Webhooks {
  private readonly o: WebhooksOptions;
  private readonly now: () => number;
  private readonly lastTranscodeFailed = new Map<string, number>();
  private readonly unsubscribe: () => void;

  constructor(options: WebhooksOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
    const { lifecycle, streams } = options;
    const onStarted = (r: StreamRecord) => this.emit('stream.started', r.playbackId, { startedAt: r.startedAt, renditions: r.renditions });
    const onEnded = (r: StreamRecord) => this.emit('stream.ended', r.playbackId, { startedAt: r.startedAt, endedAt: r.endedAt, reason: r.endReason });
    const onFailure = (r: { playbackId: string; node: string; reason: string; ignored?: string }) => this.transcodeFailed(r);
    lifecycle.on('started', onStarted).on('ended', onEnded);
    streams.on('failureReported', onFailure);
    this.unsubscribe = () => {
      lifecycle.off('started', onStarted).off('ended', onEnded);
      streams.off('failureReported', onFailure);
    };
  }

  /** Queues an event for the stream's receivers; the event, or null when nobody is to receive it. */
  emit(type: WebhookEventType, playbackId: string, data: Record<string, unknown>): WebhookEvent | null {
    const endpoints = [...this.o.global, ...(this.o.lifecycle.get(playbackId)?.webhooks ?? [])];
    if (endpoints.length === 0) return null;
    const event: WebhookEvent = { id: `evt_${randomBytes(12).toString('base64url')}`, type, createdAt: new Date(this.now()).toISOString(), playbackId, data };
    this.o.queue.enqueue(event, endpoints);
    return event;
  }

  /** A report from the stream's owner about one of its transcoders (not one it was never assigned). */
  private transcodeFailed(r: { playbackId: string; node: string; reason: string; ignored?: string }): void {
    if (r.ignored === 'not_assigned') return;
    const node = this.o.nodes.get(r.node);
    if (node?.role !== 'transcoder') return;
    const now = this.now();
    if (now - (this.lastTranscodeFailed.get(r.playbackId) ?? -Infinity) < TRANSCODE_FAILED_INTERVAL_MS) return;
    this.lastTranscodeFailed.set(r.playbackId, now);
    // Bounded by the streams that exist: entries older than the interval carry nothing.
    for (const [id, at] of this.lastTranscodeFailed) if (now - at >= TRANSCODE_FAILED_INTERVAL_MS) this.lastTranscodeFailed.delete(id);
    this.emit('stream.transcode_failed', r.playbackId, { transcoder: node.url, reason: r.reason });
  }

  close(): void {
    this.unsubscribe();
  }
}
