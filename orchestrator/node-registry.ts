// The registry of transcoders and relays, one record per node key (its payment address), never per URL:
// registration (over HTTP or from a gossiped record), heartbeats, proof that the key answers at the URL
// before the node is scheduled, bans, the caps on how many nodes there are (in all and per source
// address), and removal of nodes whose heartbeats stopped. The one owner of each node's state:
// pending-proof → active (proved) or unproven (retried with backoff), banned (by reputation or operator).

import { EventEmitter } from 'node:events';
import type { NodeLoad, NodeRecord, NodeRegistration, NodeRole } from '../protocol/node-record.ts';
import { CastnetError } from '../protocol/errors.ts';
import { nodeUrlRefusal } from '../protocol/node-url.ts';
import { RateLimiter } from '../http/rate-limiter.ts';

export type NodeState = 'pending-proof' | 'active' | 'unproven' | 'banned';

/** Proves that `address` holds the key answering at `url`; rejects with a CastnetError whose `reason` says why not. */
export type UrlProof = (url: string, address: string) => Promise<void>;

/** Who may register: the admission list, bans (node-reputation.ts). */
export interface Admission {
  /** Why this key may not register, or null when it may. */
  refusal(address: string): { reason: string; message: string } | null;
}

export interface RegistryLimits {
  /** Nodes in the registry at most, all roles and states together. */
  maxNodes: number;
  /** Nodes registered from one source address (an IP, or `gossip`) at most. */
  maxNodesPerSource: number;
  /** New node keys one source may register per minute (re-registrations of a known key are free). */
  newNodesPerMinute: number;
}

export const DEFAULT_REGISTRY_LIMITS: RegistryLimits = { maxNodes: 10_000, maxNodesPerSource: 64, newNodesPerMinute: 60 };

/** A failed proof is tried again after this, doubling per failure up to PROOF_RETRY_MAX_MS. */
const PROOF_RETRY_MS = 5_000;
const PROOF_RETRY_MAX_MS = 300_000;

interface Entry {
  record: NodeRecord;
  state: NodeState;
  source: string;
  /** The URL proved (or being proved); a record whose URL changes must prove again. */
  provedUrl: string | null;
  proofAttempts: number;
  proofAt: number;
  proofError: string | null;
  proving: boolean;
  /** The node's clock minus ours, from the timestamp of its last signed write; null until one arrives. */
  clockSkewMs: number | null;
}

export interface NodeStatus {
  state: NodeState;
  /** Why the last proof failed (unproven), or why the node is banned. */
  reason: string | null;
}

export interface NodeRegistryEvents {
  added: [NodeRecord];
  lost: [NodeRecord];
  proven: [NodeRecord];
  proofFailed: [NodeRecord, string];
  banned: [NodeRecord, string];
}

export interface NodeRegistryOptions {
  timeoutMs: number;
  now?: () => number;
  /** Without one (a registry built by hand, as bench/network does), every record counts as proved. */
  proveUrl?: UrlProof;
  admission?: Admission;
  limits?: Partial<RegistryLimits>;
  /** Loopback and private URLs accepted (--allow-private-nodes). */
  allowPrivate?: boolean;
}

export class NodeRegistry extends EventEmitter<NodeRegistryEvents> {
  private readonly nodes = new Map<string, Entry>();
  private readonly perSource = new Map<string, number>();
  private readonly now: () => number;
  private readonly proveUrl: UrlProof | null;
  private readonly admission: Admission | null;
  private readonly limits: RegistryLimits;
  private readonly newNodes: RateLimiter;
  private readonly allowPrivate: boolean;
  readonly timeoutMs: number;

  constructor(options: NodeRegistryOptions) {
    super();
    this.timeoutMs = options.timeoutMs;
    this.now = options.now ?? Date.now;
    this.proveUrl = options.proveUrl ?? null;
    this.admission = options.admission ?? null;
    this.limits = { ...DEFAULT_REGISTRY_LIMITS, ...options.limits };
    this.allowPrivate = options.allowPrivate ?? true;
    this.newNodes = new RateLimiter({ ratePerSecond: this.limits.newNodesPerMinute / 60, burst: this.limits.newNodesPerMinute, now: this.now });
  }

  /**
   * Registers (or refreshes) the node whose key is `registration.paymentAddress`, heard from `source`. A new
   * key, or a known key with a new URL, must prove its URL before it is scheduled. Refused: a denied,
   * unlisted or banned key (FORBIDDEN), a private URL without --allow-private-nodes (FORBIDDEN), a full
   * registry (UNAVAILABLE) or too many new keys from one source (RATE_LIMITED).
   */
  register(registration: NodeRegistration, source = 'local'): NodeRecord {
    if (!registration.paymentAddress) throw new CastnetError('BAD_REQUEST', 'a node registers with its key (paymentAddress)');
    const id = registration.paymentAddress.toLowerCase();
    const refusal = this.admission?.refusal(id);
    if (refusal) throw new CastnetError('FORBIDDEN', refusal.message, { node: id, reason: refusal.reason });
    const urlRefusal = nodeUrlRefusal(registration.url, { allowPrivate: this.allowPrivate });
    if (urlRefusal) throw new CastnetError(urlRefusal.reason === 'private_address' ? 'FORBIDDEN' : 'BAD_REQUEST', `node URL ${urlRefusal.message}`, { node: id, url: registration.url, reason: urlRefusal.reason });
    const at = new Date(this.now()).toISOString();
    const existing = this.nodes.get(id);
    // Admitted again: whatever ban it was under is over, and it proves its URL again.
    if (existing?.state === 'banned') existing.state = 'pending-proof';
    if (!existing) this.admit(source, id);
    const record: NodeRecord = { ...registration, paymentAddress: id, id, registeredAt: existing?.record.registeredAt ?? at, lastSeenAt: at };
    const entry: Entry = existing ?? { record, state: 'pending-proof', source, provedUrl: null, proofAttempts: 0, proofAt: 0, proofError: null, proving: false, clockSkewMs: null };
    entry.record = record;
    if (existing && existing.source !== source) {
      this.countSource(existing.source, -1);
      this.countSource(source, 1);
      entry.source = source;
    }
    if (!existing) {
      this.nodes.set(id, entry);
      this.countSource(source, 1);
    }
    if (entry.state !== 'banned' && entry.provedUrl !== record.url) {
      // A new URL is someone else's until this key answers there.
      entry.state = 'pending-proof';
      entry.provedUrl = null;
      entry.proofAttempts = 0;
      entry.proofAt = 0;
    }
    if (!existing) this.emit('added', record);
    this.maybeProve(entry);
    return record;
  }

  /** Room for one more node from `source`, or the refusal. */
  private admit(source: string, id: string): void {
    if (this.nodes.size >= this.limits.maxNodes) throw new CastnetError('UNAVAILABLE', `the registry is full (${this.limits.maxNodes} nodes): try again later`, { node: id, reason: 'registry_full' });
    if ((this.perSource.get(source) ?? 0) >= this.limits.maxNodesPerSource) {
      throw new CastnetError('RATE_LIMITED', `${this.limits.maxNodesPerSource} nodes are already registered from ${source}`, { node: id, reason: 'too_many_nodes_from_source' });
    }
    if (!this.newNodes.take(source)) throw new CastnetError('RATE_LIMITED', `more than ${this.limits.newNodesPerMinute} new nodes a minute from ${source}: retry later`, { node: id, reason: 'registration_rate' });
  }

  private countSource(source: string, delta: number): void {
    const next = (this.perSource.get(source) ?? 0) + delta;
    if (next <= 0) this.perSource.delete(source);
    else this.perSource.set(source, next);
  }

  /** Starts the URL proof when one is due: a pending record, or an unproven one past its backoff. */
  private maybeProve(entry: Entry): void {
    if (entry.proving || entry.state === 'active' || entry.state === 'banned') return;
    if (!this.proveUrl) {
      entry.state = 'active';
      entry.provedUrl = entry.record.url;
      return;
    }
    const backoff = Math.min(PROOF_RETRY_MAX_MS, PROOF_RETRY_MS * 2 ** Math.max(0, entry.proofAttempts - 1));
    if (entry.state === 'unproven' && this.now() - entry.proofAt < backoff) return;
    const { url } = entry.record;
    const id = entry.record.id;
    entry.proving = true;
    entry.proofAt = this.now();
    entry.proofAttempts++;
    this.proveUrl(url, id).then(
      () => {
        entry.proving = false;
        if (this.nodes.get(id) !== entry || entry.record.url !== url || entry.state === 'banned') return;
        entry.state = 'active';
        entry.provedUrl = url;
        entry.proofError = null;
        this.emit('proven', entry.record);
      },
      (err: unknown) => {
        entry.proving = false;
        if (this.nodes.get(id) !== entry || entry.record.url !== url || entry.state === 'banned') return;
        const reason = err instanceof CastnetError && typeof err.context.reason === 'string' ? err.context.reason : 'proof_failed';
        entry.state = 'unproven';
        entry.proofError = `${reason}: ${(err as Error).message}`;
        this.emit('proofFailed', entry.record, reason);
      },
    );
  }

  heartbeat(id: string, load: NodeLoad, stats?: NodeRecord['stats']): NodeRecord {
    const entry = this.nodes.get(id.toLowerCase());
    if (!entry) throw new CastnetError('NODE_NOT_FOUND', 'unknown node: register again', { node: id });
    const refusal = this.admission?.refusal(entry.record.id);
    if (refusal) throw new CastnetError('FORBIDDEN', refusal.message, { node: entry.record.id, reason: refusal.reason });
    if (entry.state === 'banned') {
      entry.state = 'pending-proof';
      entry.provedUrl = null;
    }
    const node = entry.record;
    node.load = load;
    if (stats) node.stats = stats;
    node.lastSeenAt = new Date(this.now()).toISOString();
    this.maybeProve(entry);
    return node;
  }

  /** Takes a node out of scheduling (a ban); it stays listed, as banned, until it falls silent. */
  ban(id: string, reason: string): void {
    const entry = this.nodes.get(id.toLowerCase());
    if (!entry || entry.state === 'banned') return;
    entry.state = 'banned';
    entry.proofError = reason;
    this.emit('banned', entry.record, reason);
  }

  /** Lifts a ban: the node proves its URL again before it is scheduled. */
  unban(id: string): void {
    const entry = this.nodes.get(id.toLowerCase());
    if (!entry || entry.state !== 'banned') return;
    entry.state = 'pending-proof';
    entry.provedUrl = null;
    entry.proofAttempts = 0;
    entry.proofError = null;
    this.maybeProve(entry);
  }

  get(id: string): NodeRecord | undefined {
    return this.nodes.get(id.toLowerCase())?.record;
  }

  /** Records how far a node's clock is from ours (its signed write's timestamp minus our time). */
  noteClock(id: string, skewMs: number): void {
    const entry = this.nodes.get(id.toLowerCase());
    if (entry) entry.clockSkewMs = Math.round(skewMs);
  }

  clockSkew(id: string): number | null {
    return this.nodes.get(id.toLowerCase())?.clockSkewMs ?? null;
  }

  status(id: string): NodeStatus | undefined {
    const entry = this.nodes.get(id.toLowerCase());
    return entry && { state: entry.state, reason: entry.state === 'active' ? null : entry.proofError };
  }

  /** Every registered node, whatever its state. */
  list(role?: NodeRole): NodeRecord[] {
    const all = [...this.nodes.values()].map((e) => e.record);
    return role ? all.filter((n) => n.role === role) : all;
  }

  /** Nodes that may be given work or offered to players: proved and not banned. */
  schedulable(role?: NodeRole): NodeRecord[] {
    const out: NodeRecord[] = [];
    for (const e of this.nodes.values()) if (e.state === 'active' && (!role || e.record.role === role)) out.push(e.record);
    return out;
  }

  isSchedulable(id: string): boolean {
    return this.nodes.get(id.toLowerCase())?.state === 'active';
  }

  /** Drops nodes not heard from within the timeout; returns them. */
  sweep(): NodeRecord[] {
    const cutoff = this.now() - this.timeoutMs;
    const lost: NodeRecord[] = [];
    for (const entry of this.nodes.values()) {
      if (Date.parse(entry.record.lastSeenAt) < cutoff) {
        this.nodes.delete(entry.record.id);
        this.countSource(entry.source, -1);
        lost.push(entry.record);
        this.emit('lost', entry.record);
      }
    }
    return lost;
  }
}
