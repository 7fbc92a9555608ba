// The orchestrator's registry and stream API under /api: node registration and heartbeats, the node list,
// stream sessions, the relays that can serve a stream, and the public directory. Each route parses its
// input with the protocol/ schema and calls the domain objects; nothing here decides anything.

import { Router } from 'express';
import { CastnetError } from '../protocol/errors.ts';
import { parseRequest } from '../protocol/fields.ts';
import { heartbeatSchema, nodeRegistrationSchema, type NodeListing } from '../protocol/node-record.ts';
import { sessionRequestSchema } from '../protocol/stream-record.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { StreamSessions } from './stream-sessions.ts';

export interface ApiRoutesContext {
  nodes: NodeRegistry;
  streams: StreamSessions;
  /** A node's earnings shown beside it, in wei: from the ledger, or from the broker's events on chain. */
  earned: (paymentAddress: string) => bigint;
  heartbeatIntervalMs: number;
  /** Drops silent nodes and expired streams, so an answer never lists them. */
  sweep: () => void;
}

export function apiRoutes(ctx: ApiRoutesContext): Router {
  const { nodes, streams } = ctx;
  const router = Router();
  router.get('/nodes', (_req, res) => {
    ctx.sweep();
    const listing: NodeListing[] = nodes.list().map((n) => ({
      ...n,
      address: n.url,
      streams: streams.assigned(n.id),
      recentFailures: streams.recentFailures(n.id),
      earned: n.paymentAddress ? ctx.earned(n.paymentAddress).toString() : '0',
    }));
    res.json(listing);
  });
  router.post('/nodes', (req, res) => {
    const record = nodes.register(parseRequest(nodeRegistrationSchema, req.body, 'node registration'));
    res.status(201).json({ id: record.id, heartbeatIntervalMs: ctx.heartbeatIntervalMs });
  });
  router.post('/nodes/:id/heartbeat', (req, res) => {
    // A node past its timeout is gone even if the sweeper has not run yet: it must register again.
    nodes.sweep();
    const beat = parseRequest(heartbeatSchema, req.body, 'heartbeat');
    nodes.heartbeat(req.params.id, beat.load, beat.stats);
    res.status(204).end();
  });
  router.get('/streams', (_req, res) => {
    ctx.sweep();
    res.json(streams.directory());
  });
  router.get('/streams/:playbackId', (req, res) => {
    ctx.sweep();
    const entry = streams.entry(req.params.playbackId);
    if (!entry) throw new CastnetError('STREAM_NOT_FOUND', 'no live stream with this playback id', { playbackId: req.params.playbackId });
    res.json(entry);
  });
  router.get('/streams/:playbackId/relays', (req, res) => {
    ctx.sweep();
    res.json(streams.relaysFor(req.params.playbackId, { holding: req.query.holding === '1' }).map((n) => n.url));
  });
  router.post('/streams', (req, res) => {
    const request = parseRequest(sessionRequestSchema, req.body, 'session request');
    ctx.sweep();
    res.json(streams.open(request).assignment);
  });
  router.delete('/streams/:playbackId', (req, res) => {
    streams.close(req.params.playbackId);
    res.status(204).end();
  });
  return router;
}
