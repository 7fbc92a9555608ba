// Which transcoder and relay serve a new stream. The orchestrator depends only on the Scheduler interface,
// so a scheduler that weighs price, capacity and measured latency can replace this one.

import type { NodeRecord } from '../protocol/node-record.ts';

export interface SchedulingRequest {
  playbackId: string;
  /** Node ids or URLs the broadcaster found unreachable. */
  avoid: ReadonlyArray<string>;
  /** Keep the stream on this relay when it is still registered (a reconnect keeps its viewers' relay). */
  preferRelay?: string;
}

export interface Scheduler {
  pickTranscoder(request: SchedulingRequest, candidates: ReadonlyArray<NodeRecord>, assignedCount: (nodeId: string) => number): NodeRecord | null;
  pickRelay(request: SchedulingRequest, candidates: ReadonlyArray<NodeRecord>, assignedCount: (nodeId: string) => number): NodeRecord | null;
}

/**
 * Least loaded first. Load = (streams this orchestrator assigned to the node + sessions the node reports)
 * / its maximum sessions; ties go to the node registered first, so the choice is deterministic.
 * Nodes in `avoid` are used only when nothing else is left.
 */
export class LeastLoadedScheduler implements Scheduler {
  private pick(request: SchedulingRequest, candidates: ReadonlyArray<NodeRecord>, assignedCount: (nodeId: string) => number): NodeRecord | null {
    const avoided = (n: NodeRecord) => request.avoid.includes(n.id) || request.avoid.includes(n.url);
    const pool = candidates.filter((n) => !avoided(n));
    const usable = pool.length > 0 ? pool : [...candidates];
    let best: NodeRecord | null = null;
    let bestLoad = Infinity;
    for (const node of usable) {
      const load = (assignedCount(node.id) + node.load.sessions) / node.capabilities.maxSessions;
      if (load < bestLoad) {
        best = node;
        bestLoad = load;
      }
    }
    return best;
  }

  pickTranscoder(request: SchedulingRequest, candidates: ReadonlyArray<NodeRecord>, assignedCount: (nodeId: string) => number): NodeRecord | null {
    return this.pick(request, candidates, assignedCount);
  }

  pickRelay(request: SchedulingRequest, candidates: ReadonlyArray<NodeRecord>, assignedCount: (nodeId: string) => number): NodeRecord | null {
    const preferred = candidates.find((n) => n.url === request.preferRelay || n.id === request.preferRelay);
    if (preferred && !request.avoid.includes(preferred.id) && !request.avoid.includes(preferred.url)) return preferred;
    return this.pick(request, candidates, assignedCount);
  }
}
