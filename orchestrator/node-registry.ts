// The registry of transcoders and relays: registration (one record per node URL), heartbeats, and removal
// of nodes whose heartbeats stopped.

import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { NodeLoad, NodeRecord, NodeRegistration, NodeRole } from '../protocol/node-record.ts';
import { CastnetError } from '../protocol/errors.ts';

export interface NodeRegistryEvents {
  added: [NodeRecord];
  lost: [NodeRecord];
}

export class NodeRegistry extends EventEmitter<NodeRegistryEvents> {
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly now: () => number;
  readonly timeoutMs: number;

  constructor(options: { timeoutMs: number; now?: () => number }) {
    super();
    this.timeoutMs = options.timeoutMs;
    this.now = options.now ?? Date.now;
  }

  /** Registers a node; a node registering again from the same URL keeps its id. */
  register(registration: NodeRegistration): NodeRecord {
    const at = new Date(this.now()).toISOString();
    const existing = [...this.nodes.values()].find((n) => n.url === registration.url && n.role === registration.role);
    const record: NodeRecord = { ...registration, id: existing?.id ?? randomUUID(), registeredAt: existing?.registeredAt ?? at, lastSeenAt: at };
    this.nodes.set(record.id, record);
    if (!existing) this.emit('added', record);
    return record;
  }

  heartbeat(id: string, load: NodeLoad, stats?: NodeRecord['stats']): NodeRecord {
    const node = this.nodes.get(id);
    if (!node) throw new CastnetError('NODE_NOT_FOUND', 'unknown node: register again', { node: id });
    node.load = load;
    if (stats) node.stats = stats;
    node.lastSeenAt = new Date(this.now()).toISOString();
    return node;
  }

  get(id: string): NodeRecord | undefined {
    return this.nodes.get(id);
  }

  list(role?: NodeRole): NodeRecord[] {
    const all = [...this.nodes.values()];
    return role ? all.filter((n) => n.role === role) : all;
  }

  /** Drops nodes not heard from within the timeout; returns them. */
  sweep(): NodeRecord[] {
    const cutoff = this.now() - this.timeoutMs;
    const lost: NodeRecord[] = [];
    for (const node of this.nodes.values()) {
      if (Date.parse(node.lastSeenAt) < cutoff) {
        this.nodes.delete(node.id);
        lost.push(node);
        this.emit('lost', node);
      }
    }
    return lost;
  }
}
