// What the dashboard shows, as one JSON value: live and recently ended streams (viewers, renditions,
// thumbnail), every node (role, encoder, load, price, state, score, earnings), the ledger's accounts, the
// webhook delivery log and the recent events. Public data only: it names no stream key and no webhook
// secret or query string, like the /api reads it is made from. Computed once per hub tick.

import { nodeListings, streamStatus, type ApiRoutesContext } from './api-routes.ts';
import type { DashboardEvent, DashboardEvents } from './dashboard-events.ts';
import type { Ledger } from './ledger.ts';
import type { WebhookQueue } from './webhook-queue.ts';
import type { WebhookDeliveryListing } from '../protocol/webhook.ts';
import type { BanEntry } from './node-reputation.ts';

/** Webhook deliveries the dashboard shows, newest first. */
export const DASHBOARD_DELIVERIES = 20;

export interface DashboardStream {
  playbackId: string;
  state: string;
  startedAt: string | null;
  endedAt: string | null;
  viewers: number;
  renditions: Array<{ name: string; width: number; height: number }>;
  /** Null once the stream ended (its relay no longer serves it live). */
  watchUrl: string | null;
  thumbnailUrl: string | null;
  warnings: string[];
}

export interface DashboardNode {
  id: string;
  role: string;
  url: string;
  version: string;
  encoders: string[];
  edge: boolean;
  sessions: number;
  inFlight: number;
  maxSessions: number;
  /** wei per pixel (transcoders) or per byte (relays). */
  price: string;
  priceUnit: 'pixel' | 'byte';
  state: string;
  stateReason: string | null;
  score: number;
  earned: string;
  streams: number;
  recentFailures: number;
  bannedUntil: string | null;
}

export interface DashboardAccount {
  address: string;
  deposit: string;
  reserve: string;
  spent: string;
  earned: string;
  withdrawn: string;
}

export interface DashboardSnapshot {
  settlement: 'ledger' | 'chain';
  streams: DashboardStream[];
  nodes: DashboardNode[];
  /** Null when the network settles on chain (the broker holds the money). */
  accounts: DashboardAccount[] | null;
  deliveries: WebhookDeliveryListing[];
  bans: BanEntry[];
  events: ReadonlyArray<DashboardEvent>;
  /** Whether this orchestrator can create stream keys (a broadcaster is attached to it). */
  streamKeys: boolean;
}

export interface DashboardSnapshotContext extends Pick<ApiRoutesContext, 'nodes' | 'streams' | 'lifecycle' | 'reputation' | 'earned' | 'recording' | 'sweep'> {
  ledger: Ledger | null;
  webhookQueue: WebhookQueue;
  events: DashboardEvents;
  streamKeys: () => boolean;
}

export function dashboardSnapshot(ctx: DashboardSnapshotContext): DashboardSnapshot {
  ctx.sweep();
  const streams: DashboardStream[] = [];
  const seen = new Set<string>();
  const add = (playbackId: string) => {
    if (seen.has(playbackId)) return;
    seen.add(playbackId);
    const s = streamStatus(ctx, playbackId);
    if (!s) return;
    const relay = 'relay' in s && s.relay ? s.relay : null;
    const live = s.state !== 'ended' && relay;
    streams.push({
      playbackId,
      state: s.state,
      startedAt: s.startedAt,
      endedAt: s.endedAt,
      viewers: s.viewers,
      renditions: s.renditions.map((r) => ({ name: r.name, width: r.width, height: r.height })),
      watchUrl: live && 'watchUrl' in s && s.watchUrl ? s.watchUrl : null,
      thumbnailUrl: relay ? `${relay}/hls/${playbackId}/thumbnail.jpg` : null,
      warnings: 'warnings' in s && s.warnings ? s.warnings.map((w) => w.message) : [],
    });
  };
  for (const entry of ctx.streams.directory()) add(entry.playbackId);
  for (const r of ctx.lifecycle.unended()) add(r.playbackId);
  for (const r of ctx.events.ended()) add(r.playbackId);
  const nodes: DashboardNode[] = nodeListings(ctx).map((n) => ({
    id: n.id,
    role: n.role,
    url: n.url,
    version: n.version,
    encoders: n.capabilities.encoders,
    edge: n.capabilities.edge ?? false,
    sessions: n.load.sessions,
    inFlight: n.load.inFlight,
    maxSessions: n.capabilities.maxSessions,
    price: n.role === 'relay' ? (n.capabilities.pricePerByte ?? '0') : n.capabilities.pricePerPixel,
    priceUnit: n.role === 'relay' ? 'byte' : 'pixel',
    state: n.state,
    stateReason: n.stateReason,
    score: Math.round(n.score * 1000) / 1000,
    earned: n.earned,
    streams: n.streams,
    recentFailures: n.recentFailures,
    bannedUntil: n.bannedUntil,
  }));
  const accounts = ctx.ledger
    ? ctx.ledger.accounts().map((a) => ({ address: a.address, deposit: a.deposit.toString(), reserve: a.reserve.toString(), spent: a.spent.toString(), earned: a.earned.toString(), withdrawn: a.withdrawn.toString() }))
    : null;
  return {
    settlement: ctx.ledger ? 'ledger' : 'chain',
    streams,
    nodes,
    accounts,
    deliveries: ctx.webhookQueue.deliveries({ limit: DASHBOARD_DELIVERIES }),
    bans: ctx.reputation.bans(),
    events: ctx.events.recent(),
    streamKeys: ctx.streamKeys(),
  };
}
