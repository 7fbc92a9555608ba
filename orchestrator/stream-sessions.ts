// Stream sessions: which transcoder and relay serve each stream, kept with per-node counters (so an
// assignment costs one pass over the candidates, not over every stream), failure reports per node for
// the scheduler's health rule, and expiry of streams whose broadcaster stopped refreshing them.

import { CastnetError } from '../protocol/errors.ts';
import type { NodeRecord } from '../protocol/node-record.ts';
import type { Assignment, SessionRequest } from '../protocol/stream-record.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { NodeState, Scheduler } from './scheduler.ts';

export interface StreamSession {
  request: SessionRequest;
  transcoderIds: string[];
  relayId: string;
  refreshedAt: number;
}

export class StreamSessions implements NodeState {
  private readonly streams = new Map<string, StreamSession>();
  private readonly counts = new Map<string, number>();
  private readonly failures = new Map<string, number[]>();
  private readonly nodes: NodeRegistry;
  private readonly scheduler: Scheduler;
  private readonly now: () => number;
  private readonly ttlMs: number;
  private readonly healthWindowMs: number;
  private readonly transcodersPerStream: number;

  constructor(options: { nodes: NodeRegistry; scheduler: Scheduler; ttlMs: number; healthWindowMs?: number; transcodersPerStream?: number; now?: () => number }) {
    this.transcodersPerStream = options.transcodersPerStream ?? 2;
    this.nodes = options.nodes;
    this.scheduler = options.scheduler;
    this.ttlMs = options.ttlMs;
    this.healthWindowMs = options.healthWindowMs ?? 30_000;
    this.now = options.now ?? Date.now;
    options.nodes.on('lost', (n) => this.counts.delete(n.id));
  }

  get size(): number {
    return this.streams.size;
  }

  get(playbackId: string): StreamSession | undefined {
    return this.streams.get(playbackId);
  }

  entries(): IterableIterator<[string, StreamSession]> {
    return this.streams.entries();
  }

  assigned(nodeId: string): number {
    return this.counts.get(nodeId) ?? 0;
  }

  recentFailures(nodeId: string): number {
    const list = this.failures.get(nodeId);
    if (!list) return 0;
    const cutoff = this.now() - this.healthWindowMs;
    while (list.length && list[0]! < cutoff) list.shift();
    return list.length;
  }

  /** Counts a failure a broadcaster reported against a node (by id or URL). */
  reportFailure(nodeIdOrUrl: string): void {
    const node = this.nodes.get(nodeIdOrUrl) ?? this.nodes.list().find((n) => n.url === nodeIdOrUrl);
    if (!node) return;
    const list = this.failures.get(node.id) ?? [];
    list.push(this.now());
    this.failures.set(node.id, list);
  }

  private count(nodeId: string, delta: number): void {
    const next = (this.counts.get(nodeId) ?? 0) + delta;
    if (next <= 0) this.counts.delete(nodeId);
    else this.counts.set(nodeId, next);
  }

  private set(playbackId: string, session: StreamSession | undefined): void {
    const old = this.streams.get(playbackId);
    if (old) {
      for (const id of old.transcoderIds) this.count(id, -1);
      this.count(old.relayId, -1);
    }
    if (session) {
      this.streams.set(playbackId, session);
      for (const id of session.transcoderIds) this.count(id, 1);
      this.count(session.relayId, 1);
    } else {
      this.streams.delete(playbackId);
    }
  }

  /** Opens or refreshes a session; nodes that are gone, failing or avoided are replaced. */
  open(request: SessionRequest): { assignment: Assignment; changed: boolean } {
    for (const failed of request.avoid) this.reportFailure(failed);
    const existing = this.streams.get(request.playbackId);
    const schedulingRequest = {
      playbackId: request.playbackId,
      avoid: request.avoid,
      ...(request.preferRelay ? { preferRelay: request.preferRelay } : {}),
      ...(request.maxPricePerPixel !== undefined ? { maxPricePerPixel: BigInt(request.maxPricePerPixel) } : {}),
    };
    // Decided with the stream's current nodes not counted against them.
    if (existing) this.set(request.playbackId, undefined);
    const keep = (id: string | null | undefined): NodeRecord | undefined => {
      const n = id ? this.nodes.get(id) : undefined;
      return n && !request.avoid.includes(n.id) && !request.avoid.includes(n.url) ? n : undefined;
    };
    const relay = keep(existing?.relayId) ?? this.scheduler.pickRelay(schedulingRequest, this.nodes.list('relay'), this) ?? undefined;
    if (!relay) {
      if (existing) this.set(request.playbackId, existing);
      throw new CastnetError('NO_NODE_AVAILABLE', 'no relay is registered', { playbackId: request.playbackId });
    }
    const transcoders = (existing?.transcoderIds ?? []).map(keep).filter((n): n is NodeRecord => n !== undefined);
    const candidates = this.nodes.list('transcoder');
    const provisional: string[] = [];
    while (transcoders.length < this.transcodersPerStream) {
      const chosen = transcoders.map((t) => t.id);
      const next = this.scheduler.pickTranscoder({ ...schedulingRequest, avoid: [...request.avoid, ...chosen] }, candidates, this);
      // The scheduler falls back to avoided nodes when nothing else is left: fine for the first, not for spares.
      if (!next || chosen.includes(next.id) || (transcoders.length > 0 && (request.avoid.includes(next.id) || request.avoid.includes(next.url)))) break;
      transcoders.push(next);
      // Counted at once so the next pick sees this one's new load; undone below, as set() counts the session.
      this.count(next.id, 1);
      provisional.push(next.id);
    }
    for (const id of provisional) this.count(id, -1);
    const transcoderIds = transcoders.map((t) => t.id);
    this.set(request.playbackId, { request, transcoderIds, relayId: relay.id, refreshedAt: this.now() });
    const changed = !existing || existing.relayId !== relay.id || existing.transcoderIds.join() !== transcoderIds.join();
    return { assignment: { playbackId: request.playbackId, transcoder: transcoders[0] ?? null, transcoders, relay }, changed };
  }

  close(playbackId: string): boolean {
    const had = this.streams.has(playbackId);
    this.set(playbackId, undefined);
    return had;
  }

  /** Drops streams not refreshed within the TTL; returns their ids. */
  expire(): string[] {
    const cutoff = this.now() - this.ttlMs;
    const expired: string[] = [];
    for (const [id, s] of this.streams) {
      if (s.refreshedAt < cutoff) {
        this.set(id, undefined);
        expired.push(id);
      }
    }
    return expired;
  }
}
