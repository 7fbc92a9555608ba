// The orchestrator's public read API under /api: the node list (with each node's state and score), the
// stream directory, the relays that can serve a stream, and the admission lists. Anyone may read these
// (browsers too: CORS allows every origin); nothing here changes state. Writes are in write-routes.ts.

import { Router } from 'express';
import { CastnetError } from '../protocol/errors.ts';
import type { NodeListing } from '../protocol/node-record.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { NodeReputation } from './node-reputation.ts';
import type { StreamSessions } from './stream-sessions.ts';
import type { StreamLifecycle } from './stream-lifecycle.ts';
import type { StreamStatus } from '../protocol/stream-status.ts';

export interface ApiRoutesContext {
  nodes: NodeRegistry;
  streams: StreamSessions;
  /** A node's earnings shown beside it, in wei: from the ledger, or from the broker's events on chain. */
  earned: (paymentAddress: string) => bigint;
  reputation: NodeReputation;
  /** Addresses whose signatures count as the operator's (deposits, admission). */
  operators: ReadonlyArray<string>;
  lifecycle: StreamLifecycle;
  /** A stream's recording as the recorder knows it; null when there is none. */
  recording?: (playbackId: string) => unknown;
  /** Drops silent nodes and expired streams, so an answer never lists them. */
  sweep: () => void;
}

/** Every node with its state, score, assigned streams and earnings: `GET /api/nodes` and the dashboard. */
export function nodeListings(ctx: Pick<ApiRoutesContext, 'nodes' | 'streams' | 'reputation' | 'earned'>): NodeListing[] {
  const { nodes, streams, reputation } = ctx;
  return nodes.list().map((n) => {
    const status = nodes.status(n.id)!;
    const bannedUntil = reputation.bannedUntil(n.id);
    return {
      ...n,
      address: n.url,
      streams: streams.assigned(n.id),
      recentFailures: streams.recentFailures(n.id),
      earned: n.paymentAddress ? ctx.earned(n.paymentAddress).toString() : '0',
      state: status.state,
      stateReason: status.reason,
      score: reputation.score(n.id),
      bannedUntil: bannedUntil === null ? null : new Date(bannedUntil).toISOString(),
      clockSkewMs: nodes.clockSkew(n.id),
    };
  });
}

/** One stream's status, ended ones too: its lifecycle, viewers and (while live) its directory entry; undefined when unknown. */
export function streamStatus(ctx: Pick<ApiRoutesContext, 'nodes' | 'streams' | 'lifecycle' | 'recording'>, playbackId: string): StreamStatus | undefined {
  const record = ctx.lifecycle.get(playbackId);
  const entry = ctx.streams.entry(playbackId);
  if (!record && !entry) return undefined;
  let viewers = 0;
  if (record?.state !== 'ended') for (const relay of ctx.nodes.list('relay')) viewers += relay.stats?.find((s) => s.playbackId === playbackId)?.viewers ?? 0;
  return {
    ...(entry ?? { playbackId, renditions: record!.renditions, delivery: null, playbackPolicy: null }),
    state: record?.state ?? 'live',
    startedAt: record?.startedAt ?? null,
    endedAt: record?.endedAt ?? null,
    viewers,
    recording: ctx.recording?.(playbackId) ?? record?.recording ?? null,
    publisher: entry?.publisher ?? record?.publisher ?? null,
  };
}

export function apiRoutes(ctx: ApiRoutesContext): Router {
  const { streams, reputation } = ctx;
  const router = Router();
  router.get('/nodes', (_req, res) => {
    ctx.sweep();
    res.json(nodeListings(ctx));
  });
  router.get('/streams', (_req, res) => {
    ctx.sweep();
    res.json(streams.directory());
  });
  // One stream's status, ended ones too: its lifecycle, viewers and (while live) its directory entry.
  router.get('/streams/:playbackId', (req, res) => {
    ctx.sweep();
    const status = streamStatus(ctx, req.params.playbackId);
    if (!status) throw new CastnetError('STREAM_NOT_FOUND', 'no stream with this playback id', { playbackId: req.params.playbackId });
    res.json(status);
  });
  router.get('/streams/:playbackId/relays', (req, res) => {
    ctx.sweep();
    res.json(streams.relaysFor(req.params.playbackId, { holding: req.query.holding === '1' }).map((n) => n.url));
  });
  router.get('/admission', (_req, res) => {
    res.json({ mode: reputation.mode, operators: ctx.operators, entries: reputation.admissionList(), bans: reputation.bans() });
  });
  return router;
}
