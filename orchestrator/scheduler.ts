// Which transcoder and relay serve a stream. The orchestrator depends only on the Scheduler interface, so
// another policy can replace this one.
//
// The rule (CapacityPriceScheduler):
//  1. Eligible: healthy (heartbeat fresh — the registry drops stale nodes — and fewer than
//     `maxRecentFailures` failure reports in the health window), free capacity (streams assigned here plus
//     sessions the node reports < its maxSessions), the encoder the stream needs (if it names one), and a
//     price per pixel at or under the broadcaster's maximum. Nodes the broadcaster asked to avoid are
//     eligible only when nothing else is.
//  2. Among the eligible, the lowest score wins:
//       score = (load + 0.01) × (1 + priceWeight × (price / cheapest eligible price − 1))
//     where load = (assigned + reported sessions) / maxSessions. Price scales load rather than adding to
//     it, so a node k times dearer fills to at most 1 / (1 + priceWeight × (k − 1)) of the cheapest's
//     load: with priceWeight 0.05 and prices 1–4, loads stay within 1.15× of each other (bench/network
//     measures max/mean), while idle nodes still go cheapest first. Equal scores go to the node
//     registered first, so choices are deterministic.
//  Relays flagged `edge` (they refuse pushes) are never picked: they serve players by pulling from origins.
//  Latency is not measured yet, so it is not in the score.
// Cost: one pass over the candidates, O(nodes) per assignment with no allocation beyond the result.

import type { NodeRecord } from '../protocol/node-record.ts';

export interface SchedulingRequest {
  playbackId: string;
  /** Node ids or URLs the broadcaster found failing. */
  avoid: ReadonlyArray<string>;
  /** Keep the stream on this relay when it is still eligible (a reconnect keeps its viewers' relay). */
  preferRelay?: string;
  maxPricePerPixel?: bigint;
  /** Relays asking more wei per byte than this are not assigned (paid delivery). */
  maxPricePerByte?: bigint;
  /** Any of these encoders will do; empty: any. */
  encoders?: ReadonlyArray<string>;
}

export interface NodeState {
  /** Streams this orchestrator has assigned to the node. */
  assigned(nodeId: string): number;
  /** Failure reports about the node in the health window. */
  recentFailures(nodeId: string): number;
}

export interface Scheduler {
  pickTranscoder(request: SchedulingRequest, candidates: ReadonlyArray<NodeRecord>, state: NodeState): NodeRecord | null;
  pickRelay(request: SchedulingRequest, candidates: ReadonlyArray<NodeRecord>, state: NodeState): NodeRecord | null;
}

/** A relay's delivery price, wei per byte (0 when it names none). */
export function relayPrice(n: NodeRecord): bigint {
  return BigInt(n.capabilities.pricePerByte ?? '0');
}

/** Failure reports in the health window at which a node stops being scheduled (and offered as a relay). */
export const MAX_RECENT_FAILURES = 3;

export interface CapacityPriceSchedulerOptions {
  priceWeight: number;
  maxRecentFailures: number;
}

export class CapacityPriceScheduler implements Scheduler {
  private readonly options: CapacityPriceSchedulerOptions;

  constructor(options: Partial<CapacityPriceSchedulerOptions> = {}) {
    this.options = { priceWeight: 0.05, maxRecentFailures: MAX_RECENT_FAILURES, ...options };
  }

  private eligible(n: NodeRecord, request: SchedulingRequest, state: NodeState): boolean {
    if (state.recentFailures(n.id) >= this.options.maxRecentFailures) return false;
    if (state.assigned(n.id) + n.load.sessions >= n.capabilities.maxSessions) return false;
    if (request.encoders?.length && !n.capabilities.encoders.some((e) => request.encoders!.includes(e))) return false;
    if (request.maxPricePerPixel !== undefined && BigInt(n.capabilities.pricePerPixel) > request.maxPricePerPixel) return false;
    return true;
  }

  private best(request: SchedulingRequest, candidates: ReadonlyArray<NodeRecord>, state: NodeState, allowAvoided: boolean): NodeRecord | null {
    let cheapest = Infinity;
    for (const n of candidates) {
      const price = Number(n.capabilities.pricePerPixel);
      if (price < cheapest && this.eligible(n, request, state)) cheapest = price;
    }
    let best: NodeRecord | null = null;
    let bestScore = Infinity;
    for (const n of candidates) {
      if (!allowAvoided && (request.avoid.includes(n.id) || request.avoid.includes(n.url))) continue;
      if (!this.eligible(n, request, state)) continue;
      const load = (state.assigned(n.id) + n.load.sessions) / n.capabilities.maxSessions;
      const price = Number(n.capabilities.pricePerPixel);
      const premium = cheapest > 0 ? price / cheapest - 1 : price > 0 ? 1 : 0;
      const score = (load + 0.01) * (1 + this.options.priceWeight * premium);
      if (score < bestScore) {
        best = n;
        bestScore = score;
      }
    }
    return best;
  }

  private pick(request: SchedulingRequest, candidates: ReadonlyArray<NodeRecord>, state: NodeState): NodeRecord | null {
    return this.best(request, candidates, state, false) ?? (request.avoid.length ? this.best(request, candidates, state, true) : null);
  }

  pickTranscoder(request: SchedulingRequest, candidates: ReadonlyArray<NodeRecord>, state: NodeState): NodeRecord | null {
    return this.pick(request, candidates, state);
  }

  pickRelay(request: SchedulingRequest, all: ReadonlyArray<NodeRecord>, state: NodeState): NodeRecord | null {
    const candidates = all.filter((n) => !n.capabilities.edge && (request.maxPricePerByte === undefined || relayPrice(n) <= request.maxPricePerByte));
    const preferred = request.preferRelay ? candidates.find((n) => n.url === request.preferRelay || n.id === request.preferRelay) : undefined;
    if (preferred && !request.avoid.includes(preferred.id) && !request.avoid.includes(preferred.url) && state.recentFailures(preferred.id) < this.options.maxRecentFailures) return preferred;
    return this.pick({ ...request, maxPricePerPixel: undefined, encoders: [] }, candidates, state);
  }
}
