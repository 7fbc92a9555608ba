// The orchestrator's writes under /api, each signed by the key it speaks for (signed-writes.ts checked the
// signature): a node registers and heartbeats as its own key (its id is its address), a broadcaster opens,
// refreshes, reassigns and closes only its own streams' sessions, and the operator's key alone changes the
// admission lists. Each route parses its input with the protocol/ schema and calls the domain objects.

import { Router } from 'express';
import { CastnetError } from '../protocol/errors.ts';
import { admissionChangeSchema } from '../protocol/admission.ts';
import { parseRequest } from '../protocol/fields.ts';
import { heartbeatSchema, nodeRegistrationSchema, type RegistrationAnswer } from '../protocol/node-record.ts';
import { sessionRequestSchema } from '../protocol/stream-record.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { NodeReputation } from './node-reputation.ts';
import { signerOf, sourceOf } from '../http/signed-writes.ts';
import type { StreamSessions } from './stream-sessions.ts';

export interface WriteRoutesContext {
  nodes: NodeRegistry;
  streams: StreamSessions;
  reputation: NodeReputation;
  heartbeatIntervalMs: number;
  /** Throws FORBIDDEN unless `signer` is an operator key. */
  requireOperator: (signer: string, what: string) => void;
  sweep: () => void;
}

export function writeRoutes(ctx: WriteRoutesContext): Router {
  const { nodes, streams } = ctx;
  const router = Router();
  router.post('/nodes', (req, res) => {
    const signer = signerOf(res, 'a node registration');
    const registration = parseRequest(nodeRegistrationSchema, req.body, 'node registration');
    if (registration.paymentAddress && registration.paymentAddress.toLowerCase() !== signer) {
      throw new CastnetError('FORBIDDEN', `the registration names ${registration.paymentAddress} but is signed by ${signer}: a node registers as its own key`, { reason: 'payment_address' });
    }
    const record = nodes.register({ ...registration, paymentAddress: signer }, sourceOf(req));
    nodes.noteClock(record.id, res.locals.clockSkewMs as number);
    // Our clock, so the node can say at startup how far its own is off.
    const answer: RegistrationAnswer = { id: record.id, heartbeatIntervalMs: ctx.heartbeatIntervalMs, state: nodes.status(record.id)!.state, orchestratorTime: Date.now() };
    res.status(201).json(answer);
  });
  router.post('/nodes/:id/heartbeat', (req, res) => {
    const signer = signerOf(res, 'a heartbeat');
    if (req.params.id.toLowerCase() !== signer) throw new CastnetError('FORBIDDEN', `a heartbeat for ${req.params.id} signed by ${signer}: a node heartbeats as its own key`, { node: req.params.id, reason: 'not_node_key' });
    // A node past its timeout is gone even if the sweeper has not run yet: it must register again.
    nodes.sweep();
    const beat = parseRequest(heartbeatSchema, req.body, 'heartbeat');
    nodes.heartbeat(req.params.id, beat.load, beat.stats);
    nodes.noteClock(req.params.id, res.locals.clockSkewMs as number);
    res.status(204).end();
  });
  router.post('/streams', (req, res) => {
    const owner = signerOf(res, 'a session request');
    const request = parseRequest(sessionRequestSchema, req.body, 'session request');
    ctx.sweep();
    res.json(streams.open(request, owner).assignment);
  });
  router.delete('/streams/:playbackId', (req, res) => {
    streams.close(req.params.playbackId, signerOf(res, 'closing a session'));
    res.status(204).end();
  });
  router.post('/admission', (req, res) => {
    ctx.requireOperator(signerOf(res, 'an admission change'), 'change the admission lists');
    const change = parseRequest(admissionChangeSchema, req.body, 'admission change');
    ctx.reputation.setAdmission(change.address, change.list);
    res.json({ address: change.address, list: change.list });
  });
  return router;
}
