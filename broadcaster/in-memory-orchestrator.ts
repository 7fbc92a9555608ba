// An orchestrator's session API kept in memory, for unit tests of the broadcaster's stream objects: it
// records every request and answers with the assignment a test sets (or fails while a test says so).

import type { NodeRecord } from '../protocol/node-record.ts';
import type { Assignment, SessionRequest } from '../protocol/stream-record.ts';
import type { SessionOrchestrator } from './stream-session.ts';

export function nodeRecord(role: 'transcoder' | 'relay', url: string): NodeRecord {
  const at = new Date(0).toISOString();
  return {
    id: `${role}-${url}`,
    role,
    url,
    version: '0',
    capabilities: { encoders: ['libx264'], maxSessions: 8, pricePerPixel: '0' },
    load: { sessions: 0, inFlight: 0 },
    registeredAt: at,
    lastSeenAt: at,
  };
}

export class InMemoryOrchestrator implements SessionOrchestrator {
  readonly requests: SessionRequest[] = [];
  readonly closed: string[] = [];
  /** While set, openSession fails with it. */
  failWith: Error | null = null;
  private relay: string;
  private transcoders: string[];

  constructor(nodes: { relay: string; transcoders: string[] }) {
    this.relay = nodes.relay;
    this.transcoders = nodes.transcoders;
  }

  /** What the next answers assign. */
  assign(nodes: { relay?: string; transcoders?: string[] }): void {
    this.relay = nodes.relay ?? this.relay;
    this.transcoders = nodes.transcoders ?? this.transcoders;
  }

  /** Requests that asked to avoid some node: the failure-driven ones. */
  get reassignments(): SessionRequest[] {
    return this.requests.filter((r) => r.avoid.length > 0);
  }

  async openSession(request: SessionRequest): Promise<Assignment> {
    this.requests.push(request);
    if (this.failWith) throw this.failWith;
    const transcoders = this.transcoders.map((url) => nodeRecord('transcoder', url));
    return { playbackId: request.playbackId, transcoder: transcoders[0] ?? null, transcoders, relay: nodeRecord('relay', this.relay) };
  }

  async closeSession(playbackId: string): Promise<void> {
    this.closed.push(playbackId);
  }
}
