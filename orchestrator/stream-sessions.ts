// Stream sessions: which transcoder and relay serve each stream, kept with per-node counters (so an
// assignment costs one pass over the candidates, not over every stream), failure reports per node for
// the scheduler's health rule, expiry of streams whose broadcaster stopped refreshing them, and what the
// API reads of them: the relays that can serve a stream and the public directory. A session belongs to
// the broadcaster key that opened it: only that key refreshes, reassigns or closes it, and only its
// failure reports about nodes assigned to the stream count; another key asking for the same playback id
// is refused, while the session lives and for `ownerRetentionMs` after it ends (a broadcaster that lost
// its connection finds its playback id waiting). Emits an event for each change (assigned, ended,
// expired, failureReported); logs, metrics and reputation listen.

import { EventEmitter } from 'node:events';
import { CastnetError } from '../protocol/errors.ts';
import type { NodeRecord } from '../protocol/node-record.ts';
import type { Assignment, SessionRequest, StreamDirectoryEntry } from '../protocol/stream-record.ts';
import type { FailureReport } from '../protocol/failure-report.ts';
import type { NodeRegistry } from './node-registry.ts';
import { MAX_RECENT_FAILURES, relayPrice, type NodeState, type Scheduler } from './scheduler.ts';

export interface StreamSession {
  /** The broadcaster key that opened it (lower case). */
  owner: string;
  request: SessionRequest;
  transcoderIds: string[];
  relayId: string;
  refreshedAt: number;
}

export interface StreamSessionsEvents {
  /** A stream got new nodes (opened, or moved off nodes that were gone, failing or avoided). */
  assigned: [SessionRequest, Assignment];
  /** Every open or refresh that succeeded, by its owner (the lifecycle follows idle → live from these). */
  opened: [SessionRequest, string];
  /** Its broadcaster closed the session. */
  ended: [string];
  /** Its broadcaster stopped refreshing the session. */
  expired: [string];
  /** A failure report: `counted` when it came from the owner about a node assigned to the stream. */
  failureReported: [{ playbackId: string; node: string; reason: string; reporter: string; counted: boolean; ignored?: 'not_assigned' | 'reporter_unfunded' }];
}

/** One owner's reports about one node of one stream count at most this often (a retry storm is one failure). */
const REPORT_INTERVAL_MS = 1_000;

export interface StreamSessionsOptions {
  nodes: NodeRegistry;
  scheduler: Scheduler;
  /** A session not refreshed this long expires. */
  ttlMs: number;
  /** Failure reports count against a node this long. */
  healthWindowMs?: number;
  transcodersPerStream?: number;
  /** Failure reports in the health window at which a relay is no longer offered (the scheduler's threshold). */
  maxRecentFailures?: number;
  /** Sessions one broadcaster key may hold at once. */
  maxStreamsPerKey?: number;
  /** Sessions in all. */
  maxStreams?: number;
  /** After a session ends or expires, its playback id stays its owner's this long. */
  ownerRetentionMs?: number;
  /**
   * Whether a broadcaster key's failure reports count (the orchestrator's rule: it has funds in the ledger,
   * which only the operator or its own money puts there, so a free key cannot drive nodes out). Default: all.
   */
  countsReports?: (owner: string) => boolean;
  now?: () => number;
}

export class StreamSessions extends EventEmitter<StreamSessionsEvents> implements NodeState {
  private readonly streams = new Map<string, StreamSession>();
  private readonly counts = new Map<string, number>();
  private readonly failures = new Map<string, number[]>();
  /** Playback ids of ended sessions → their owner and until when they stay theirs. */
  private readonly retained = new Map<string, { owner: string; until: number }>();
  private readonly perOwner = new Map<string, number>();
  private readonly lastReport = new Map<string, number>();
  private readonly nodes: NodeRegistry;
  private readonly scheduler: Scheduler;
  private readonly now: () => number;
  private readonly ttlMs: number;
  private readonly healthWindowMs: number;
  private readonly transcodersPerStream: number;
  private readonly maxRecentFailures: number;
  private readonly maxStreamsPerKey: number;
  private readonly maxStreams: number;
  private readonly ownerRetentionMs: number;
  private readonly countsReports: (owner: string) => boolean;

  constructor(options: StreamSessionsOptions) {
    super();
    this.countsReports = options.countsReports ?? (() => true);
    this.maxStreamsPerKey = options.maxStreamsPerKey ?? 1_000;
    this.maxStreams = options.maxStreams ?? 100_000;
    this.ownerRetentionMs = options.ownerRetentionMs ?? 600_000;
    this.maxRecentFailures = options.maxRecentFailures ?? MAX_RECENT_FAILURES;
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

  /**
   * Counts a failure report against a node assigned to `session` (named by id or URL), at most once per
   * REPORT_INTERVAL_MS per stream and node; a node the stream does not use, or a reporter whose reports do
   * not count (countsReports), is not counted.
   */
  private reportFailure(playbackId: string, session: StreamSession | undefined, report: FailureReport): void {
    const assigned = session ? [session.relayId, ...session.transcoderIds] : [];
    const id = assigned.find((a) => a === report.node.toLowerCase() || this.nodes.get(a)?.url === report.node.replace(/\/$/, ''));
    const owner = session?.owner ?? '';
    const node = id ?? report.node;
    if (!id || !this.countsReports(owner)) {
      this.emit('failureReported', { playbackId, node, reason: report.reason, reporter: owner, counted: false, ignored: id ? 'reporter_unfunded' : 'not_assigned' });
      return;
    }
    const now = this.now();
    const key = `${playbackId}\n${id}`;
    if (now - (this.lastReport.get(key) ?? -Infinity) < REPORT_INTERVAL_MS) return;
    this.lastReport.set(key, now);
    const list = this.failures.get(id) ?? [];
    list.push(now);
    this.failures.set(id, list);
    this.emit('failureReported', { playbackId, node: id, reason: report.reason, reporter: owner, counted: true });
  }

  /** Refuses `owner` a playback id another key holds (live, or ended within the retention). */
  private checkOwner(playbackId: string, owner: string, existing: StreamSession | undefined): void {
    const holder = existing?.owner ?? this.retainedOwner(playbackId);
    if (holder !== undefined && holder !== owner) {
      throw new CastnetError('FORBIDDEN', `playback id ${playbackId} belongs to another broadcaster key (${holder}): only the key that opened a stream refreshes, reassigns or closes it`, { playbackId, reason: 'stream_owned' });
    }
  }

  private retainedOwner(playbackId: string): string | undefined {
    const r = this.retained.get(playbackId);
    if (!r) return undefined;
    if (r.until > this.now()) return r.owner;
    this.retained.delete(playbackId);
    return undefined;
  }

  /** The key that owns a live stream's session. */
  ownerOf(playbackId: string): string | undefined {
    return this.streams.get(playbackId)?.owner;
  }

  private count(nodeId: string, delta: number): void {
    const next = (this.counts.get(nodeId) ?? 0) + delta;
    if (next <= 0) this.counts.delete(nodeId);
    else this.counts.set(nodeId, next);
  }

  /** Replaces a stream's session and its counters; a session that ends (`retain`) keeps its playback id for its owner. */
  private set(playbackId: string, session: StreamSession | undefined, retain = true): void {
    const old = this.streams.get(playbackId);
    if (old) {
      for (const id of old.transcoderIds) this.count(id, -1);
      this.count(old.relayId, -1);
      this.perOwner.set(old.owner, (this.perOwner.get(old.owner) ?? 1) - 1);
      if (this.perOwner.get(old.owner)! <= 0) this.perOwner.delete(old.owner);
    }
    if (session) {
      this.streams.set(playbackId, session);
      for (const id of session.transcoderIds) this.count(id, 1);
      this.count(session.relayId, 1);
      this.perOwner.set(session.owner, (this.perOwner.get(session.owner) ?? 0) + 1);
    } else {
      this.streams.delete(playbackId);
      if (old && retain) this.retain(playbackId, old.owner);
    }
  }

  private retain(playbackId: string, owner: string): void {
    this.retained.set(playbackId, { owner, until: this.now() + this.ownerRetentionMs });
    // Bounded: the oldest retentions go first once there are as many as sessions may be.
    if (this.retained.size > this.maxStreams) this.retained.delete(this.retained.keys().next().value!);
  }

  /**
   * Opens or refreshes `owner`'s session; nodes that are gone, failing, banned or avoided are replaced.
   * FORBIDDEN when another key holds the playback id; RATE_LIMITED past the per-key cap.
   */
  open(request: SessionRequest, owner = 'local'): { assignment: Assignment; changed: boolean } {
    const existing = this.streams.get(request.playbackId);
    this.checkOwner(request.playbackId, owner, existing);
    if (!existing) {
      if ((this.perOwner.get(owner) ?? 0) >= this.maxStreamsPerKey) throw new CastnetError('RATE_LIMITED', `broadcaster key ${owner} already holds ${this.maxStreamsPerKey} streams`, { playbackId: request.playbackId, reason: 'too_many_streams' });
      if (this.streams.size >= this.maxStreams) throw new CastnetError('UNAVAILABLE', `this orchestrator carries its maximum of ${this.maxStreams} streams`, { playbackId: request.playbackId, reason: 'too_many_streams' });
    }
    const reasons = new Map((request.failures ?? []).map((f) => [f.node, f]));
    for (const failed of request.avoid) this.reportFailure(request.playbackId, existing, reasons.get(failed) ?? { node: failed, reason: 'unreachable' });
    const schedulingRequest = {
      playbackId: request.playbackId,
      avoid: request.avoid,
      ...(request.preferRelay ? { preferRelay: request.preferRelay } : {}),
      ...(request.maxPricePerPixel !== undefined ? { maxPricePerPixel: BigInt(request.maxPricePerPixel) } : {}),
      ...(request.encoders?.length ? { encoders: request.encoders } : {}),
      ...(request.delivery ? { maxPricePerByte: BigInt(request.delivery.maxPricePerByte) } : {}),
    };
    // Decided with the stream's current nodes not counted against them.
    if (existing) this.set(request.playbackId, undefined, false);
    const keep = (id: string | null | undefined): NodeRecord | undefined => {
      const n = id && this.nodes.isSchedulable(id) ? this.nodes.get(id) : undefined;
      return n && !request.avoid.includes(n.id) && !request.avoid.includes(n.url) ? n : undefined;
    };
    const relay = keep(existing?.relayId) ?? this.scheduler.pickRelay(schedulingRequest, this.nodes.schedulable('relay'), this) ?? undefined;
    if (!relay) {
      if (existing) this.set(request.playbackId, existing);
      throw new CastnetError('NO_NODE_AVAILABLE', 'no relay is registered', { playbackId: request.playbackId });
    }
    const transcoders = (existing?.transcoderIds ?? []).map(keep).filter((n): n is NodeRecord => n !== undefined);
    const candidates = this.nodes.schedulable('transcoder');
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
    this.set(request.playbackId, { owner, request, transcoderIds, relayId: relay.id, refreshedAt: this.now() });
    const changed = !existing || existing.relayId !== relay.id || existing.transcoderIds.join() !== transcoderIds.join();
    const assignment = { playbackId: request.playbackId, transcoder: transcoders[0] ?? null, transcoders, relay };
    if (changed) this.emit('assigned', request, assignment);
    this.emit('opened', request, owner);
    return { assignment, changed };
  }

  /** Closes `owner`'s session; FORBIDDEN when another key holds it. */
  close(playbackId: string, owner = 'local'): boolean {
    this.checkOwner(playbackId, owner, this.streams.get(playbackId));
    const had = this.streams.has(playbackId);
    this.set(playbackId, undefined);
    if (had) this.emit('ended', playbackId);
    return had;
  }

  /**
   * Relays that can serve a stream, best first: its origin relay, then relays whose records say they hold
   * it, then the least loaded. Every relay can serve every stream (edges pull from the origin), so a player
   * failing over may use any; `holding` keeps only the origin and relays holding it, which is what an edge
   * needs as a parent (an edge pulling from another edge that pulls from it would loop). Relays with
   * `maxRecentFailures` failure reports are left out.
   */
  relaysFor(playbackId: string, options: { holding?: boolean } = {}): NodeRecord[] {
    const session = this.streams.get(playbackId);
    if (!session) throw new CastnetError('STREAM_NOT_FOUND', 'no live stream with this playback id', { playbackId });
    const holds = (n: NodeRecord) => Number(n.id === session.relayId) * 2 + Number(n.streams?.includes(playbackId) ?? false);
    const load = (n: NodeRecord) => n.load.sessions / n.capabilities.maxSessions;
    return this.nodes
      .schedulable('relay')
      .filter((n) => this.recentFailures(n.id) < this.maxRecentFailures && (!options.holding || holds(n) > 0))
      // Players and edges only use relays the stream's payer accepts (an unpriced relay is free).
      .filter((n) => !session.request.delivery || relayPrice(n) <= BigInt(session.request.delivery.maxPricePerByte))
      .sort((a, b) => holds(b) - holds(a) || load(a) - load(b));
  }

  /** The public directory: every stream whose relay is registered, with its playback and watch URLs. */
  directory(): StreamDirectoryEntry[] {
    const entries: StreamDirectoryEntry[] = [];
    for (const playbackId of this.streams.keys()) {
      const entry = this.entry(playbackId);
      if (entry) entries.push(entry);
    }
    return entries;
  }

  /** One stream's directory entry; undefined when it is not live or its relay is not registered. */
  entry(playbackId: string): StreamDirectoryEntry | undefined {
    const s = this.streams.get(playbackId);
    const relay = s && this.nodes.get(s.relayId);
    if (!s || !relay) return undefined;
    return {
      playbackId,
      playbackUrl: `${relay.url}/hls/${playbackId}/master.m3u8`,
      watchUrl: `${relay.url}/watch/${playbackId}`,
      renditions: s.request.renditions,
      startedAt: s.request.startedAt,
      relay: relay.url,
      transcoder: s.transcoderIds[0] ? (this.nodes.get(s.transcoderIds[0])?.url ?? null) : null,
      transcoders: s.transcoderIds.map((id) => this.nodes.get(id)?.url).filter((u): u is string => !!u),
      warnings: s.request.warnings ?? [],
      publisher: s.request.publisher ?? null,
      delivery: s.request.delivery ?? null,
      playbackPolicy: s.request.playbackPolicy ?? null,
    };
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
    for (const id of expired) this.emit('expired', id);
    const now = this.now();
    for (const [id, r] of this.retained) if (r.until <= now) this.retained.delete(id);
    for (const [key, at] of this.lastReport) if (now - at >= REPORT_INTERVAL_MS) this.lastReport.delete(key);
    return expired;
  }
}
