// One Prometheus registry per node, with the default process metrics, so that several roles can share a
// process (castnet dev, tests) and still each serve their own /metrics.

import { Registry, collectDefaultMetrics } from 'prom-client';

export function createMetricsRegistry(role: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry, prefix: 'castnet_' });
  return registry;
}
