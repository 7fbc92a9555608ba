// One Prometheus registry per node, with the default process metrics, so that several roles can share a
// process (castnet dev, tests) and still each serve their own /metrics. Log lines the process dropped (a
// full disk, a stuck one) or held back (rate limit) are counted here for every role.

import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { logStats } from './logger.ts';

export function createMetricsRegistry(role: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry, prefix: 'castnet_' });
  new Counter({
    name: `castnet_${role}_log_lines_dropped_total`,
    help: "log lines this process could not write (disk full, write errors, a writer that fell behind); the process's loggers together",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(logStats.dropped);
    },
  });
  new Counter({
    name: `castnet_${role}_log_lines_suppressed_total`,
    help: 'log lines held back by the per-message rate limit; the next line of a message says how many',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(logStats.suppressed);
    },
  });
  return registry;
}
