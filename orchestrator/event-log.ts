// The orchestrator's log lines and metrics, written from its domain objects' events (registry, sessions,
// ledger, reputation) rather than from the request path. Listening only: what the objects do to each other
// is wired in orchestrator.ts.

import type { Logger } from '../observability/logger.ts';
import type { NodeRecord } from '../protocol/node-record.ts';
import type { Assignment, SessionRequest } from '../protocol/stream-record.ts';
import type { Account, Ledger, Redemption } from './ledger.ts';
import type { OrchestratorMetrics } from './metrics.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { NodeReputation } from './node-reputation.ts';
import type { StreamSessions } from './stream-sessions.ts';

/** Logs and metrics of the orchestrator's domain events; returns the function that stops listening. */
export function observeOrchestrator(o: { nodes: NodeRegistry; streams: StreamSessions; ledger: Ledger | null; reputation: NodeReputation; metrics: OrchestratorMetrics; logger: Logger }): () => void {
  const { nodes, streams, ledger, reputation, metrics, logger } = o;
  const onProven = (n: NodeRecord) => {
    metrics.urlProofs.inc({ result: 'proven' });
    logger.info({ node: n.id, role: n.role, url: n.url }, 'node proved its URL: scheduled from now on');
  };
  const onProofFailed = (n: NodeRecord, reason: string) => {
    metrics.urlProofs.inc({ result: reason });
    logger.warn({ node: n.id, role: n.role, url: n.url, reason, detail: nodes.status(n.id)?.reason }, 'node failed its URL proof: not scheduled');
  };
  const onFailureReported = (r: { playbackId: string; node: string; reason: string; reporter: string; counted: boolean; ignored?: string }) => {
    metrics.failureReports.inc({ reason: r.reason, counted: r.counted ? 'yes' : (r.ignored ?? 'no') });
    if (!r.counted) {
      logger.debug(r, r.ignored === 'reporter_unfunded' ? 'failure report ignored: the reporting broadcaster has no funds' : 'failure report ignored: the node is not assigned to the stream');
      return;
    }
    logger.info({ ...r, score: reputation.score(r.node) }, 'failure reported');
  };
  const onBanned = (b: { address: string; until: number; reason: string }) => {
    metrics.bans.inc();
    logger.warn({ node: b.address, until: new Date(b.until).toISOString(), reason: b.reason }, 'node banned');
  };
  const onAdmission = (c: { address: string; list: string | null }) => logger.info(c, 'admission changed');
  const onAdded = (n: NodeRecord) => logger.info({ node: n.id, role: n.role, url: n.url, encoders: n.capabilities.encoders }, 'node registered');
  const onLost = (n: NodeRecord) => {
    metrics.nodesLost.inc({ role: n.role });
    logger.warn({ node: n.id, role: n.role, url: n.url }, 'node lost: heartbeats stopped');
  };
  const onAssigned = (request: SessionRequest, assignment: Assignment) => {
    metrics.assignments.inc({ transcoder: assignment.transcoder ? 'yes' : 'none' });
    metrics.activeStreams.set(streams.size);
    logger.info({ playbackId: request.playbackId, relay: assignment.relay.url, transcoders: assignment.transcoders.map((t) => t.url), avoid: request.avoid }, 'stream assigned');
  };
  const onEnded = (playbackId: string) => {
    metrics.activeStreams.set(streams.size);
    logger.info({ playbackId }, 'stream ended');
  };
  const onExpired = (playbackId: string) => {
    metrics.activeStreams.set(streams.size);
    logger.info({ playbackId }, 'stream expired: broadcaster stopped refreshing it');
  };
  const onFunded = (a: Account, added: { deposit: bigint; reserve: bigint }) => logger.info({ address: a.address, amount: added.deposit.toString(), reserve: added.reserve.toString() }, 'sender funded');
  const onRedeemed = (r: Redemption, parties: { sender: string; recipient: string }) => {
    metrics.redemptions.inc();
    metrics.faceValueRedeemed.inc(Number(r.paid));
    logger.info({ ticketHash: r.ticketHash, sender: parties.sender, recipient: parties.recipient, paid: r.paid.toString() }, 'ticket redeemed');
  };
  nodes.on('added', onAdded).on('lost', onLost).on('proven', onProven).on('proofFailed', onProofFailed);
  streams.on('assigned', onAssigned).on('ended', onEnded).on('expired', onExpired).on('failureReported', onFailureReported);
  ledger?.on('funded', onFunded).on('redeemed', onRedeemed);
  reputation.on('banned', onBanned).on('admissionChanged', onAdmission);
  return () => {
    nodes.off('added', onAdded).off('lost', onLost).off('proven', onProven).off('proofFailed', onProofFailed);
    streams.off('assigned', onAssigned).off('ended', onEnded).off('expired', onExpired).off('failureReported', onFailureReported);
    ledger?.off('funded', onFunded).off('redeemed', onRedeemed);
    reputation.off('banned', onBanned).off('admissionChanged', onAdmission);
  };
}
