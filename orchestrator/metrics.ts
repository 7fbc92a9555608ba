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
  };
}

export type OrchestratorMetrics = ReturnType<typeof createOrchestratorMetrics>;
