// The orchestrator's Prometheus metrics.

import { Counter, Gauge, type Registry } from 'prom-client';

export function createOrchestratorMetrics(registry: Registry) {
  return {
    activeStreams: new Gauge({ name: 'castnet_orchestrator_active_streams', help: 'Streams with an open session', registers: [registry] }),
    nodes: new Gauge({ name: 'castnet_orchestrator_nodes', help: 'Registered nodes, by role', labelNames: ['role'] as const, registers: [registry] }),
    assignments: new Counter({
      name: 'castnet_orchestrator_assignments_total',
      help: 'Sessions opened or re-assigned, by whether a transcoder was available',
      labelNames: ['transcoder'] as const,
      registers: [registry],
    }),
    redemptions: new Counter({ name: 'castnet_orchestrator_ticket_redemptions_total', help: 'Winning tickets redeemed by the ledger', registers: [registry] }),
    faceValueRedeemed: new Counter({ name: 'castnet_orchestrator_face_value_redeemed_wei_total', help: 'Face value moved from senders to recipients, in wei', registers: [registry] }),
    announcements: new Counter({
      name: 'castnet_orchestrator_announcements_total',
      help: 'Gossiped node records, by result (accepted, or why they were dropped: malformed, unknown_version, stale, bad_signature)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    nodesLost: new Counter({ name: 'castnet_orchestrator_nodes_lost_total', help: 'Nodes dropped after missed heartbeats', labelNames: ['role'] as const, registers: [registry] }),
    refused: new Counter({
      name: 'castnet_orchestrator_requests_refused_total',
      help: 'Writes refused, by reason (signature_missing, signature_stale, signature_replayed, signature_invalid, write_rate, registration_rate, registry_full, too_many_nodes_from_source, not_allowed, denied, banned, stream_owned, not_node_key, not_operator, payment_address, url_not_origin, url_userinfo, private_address, …)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    urlProofs: new Counter({
      name: 'castnet_orchestrator_url_proofs_total',
      help: "Nodes' URL challenges, by result (proven, or why not: proof_wrong_key, proof_unreachable, proof_refused, proof_malformed, private_address, redirect, …)",
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    failureReports: new Counter({
      name: 'castnet_orchestrator_failure_reports_total',
      help: 'Failure reports from broadcasters, by reason and whether they counted (yes: from a funded stream owner about a node assigned to the stream; else not_assigned or reporter_unfunded)',
      labelNames: ['reason', 'counted'] as const,
      registers: [registry],
    }),
    keyIssuerCalls: new Counter({
      name: 'castnet_orchestrator_key_issuer_calls_total',
      help: "The dashboard's calls to the broadcaster at --key-issuer-url, by call (create, list) and result (ok, key_issuer_unreachable, key_issuer_failed, key_issuer_bad_answer)",
      labelNames: ['call', 'result'] as const,
      registers: [registry],
    }),
    bans: new Counter({ name: 'castnet_orchestrator_node_bans_total', help: 'Nodes banned for repeated failures', registers: [registry] }),
    nodeStates: new Gauge({ name: 'castnet_orchestrator_node_states', help: 'Registered nodes by state (pending-proof, active, unproven, banned)', labelNames: ['state'] as const, registers: [registry] }),
  };
}

export type OrchestratorMetrics = ReturnType<typeof createOrchestratorMetrics>;
