// The relay's Prometheus metrics.

import { Counter, Gauge, type Registry } from 'prom-client';

export function createRelayMetrics(registry: Registry, state: { streams: () => number; bytesHeld: () => number }) {
  return {
    requests: new Counter({
      name: 'castnet_relay_http_requests_total',
      help: 'HTTP requests served, by kind of object and status',
      labelNames: ['kind', 'status'] as const,
      registers: [registry],
    }),
    cache: new Counter({
      name: 'castnet_relay_cache_requests_total',
      help: 'Segment and playlist lookups, by result (hit: served from memory; miss: not held)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    bytesServed: new Counter({ name: 'castnet_relay_bytes_served_total', help: 'Segment bytes sent to clients', registers: [registry] }),
    segmentsReceived: new Counter({ name: 'castnet_relay_segments_received_total', help: 'Segments pushed to this relay', registers: [registry] }),
    activeStreams: new Gauge({
      name: 'castnet_relay_active_streams',
      help: 'Streams held by this relay',
      registers: [registry],
      collect() {
        this.set(state.streams());
      },
    }),
    bytesHeld: new Gauge({
      name: 'castnet_relay_cache_bytes',
      help: 'Segment bytes held in memory',
      registers: [registry],
      collect() {
        this.set(state.bytesHeld());
      },
    }),
  };
}
