// The orchestrator's options: flag, type, default and description of each, written once. The
// OrchestratorOptions type, defaultOrchestratorOptions, `castnet orchestrator`'s flags, its config file and
// --help all come from this table.

import { z } from 'zod';
import { count, defaultsOf, defineOptions, durationMs, listOf, multiaddr, option, orNone, port, text, type OptionsOf } from '../config/option-table.ts';

export const orchestratorOptionsDefinition = defineOptions(
  {
    host: option({ flag: 'host', schema: text, default: '127.0.0.1', description: 'listen address' }),
    httpPort: option({ flag: 'http-port', schema: port, default: 8935, description: 'HTTP port of the API', deprecatedFlags: ['api-port'] }),
    dataDir: option({ flag: 'data-dir', schema: orNone(z.string()), default: './.castnet' as string | null, description: "the ticket ledger (ledger.sqlite) lives here ('': in memory)" }),
    heartbeatIntervalMs: option({ flag: 'heartbeat-interval-ms', schema: durationMs, default: 2_000, description: 'how often nodes heartbeat' }),
    nodeTimeoutMs: option({ flag: 'node-timeout-ms', schema: durationMs, default: 8_000, description: 'a node silent this long is dropped' }),
    streamTtlMs: option({ flag: 'stream-ttl-ms', schema: durationMs, default: 30_000, description: 'a stream not refreshed this long leaves the directory' }),
    transcodersPerStream: option({ flag: 'transcoders-per-stream', schema: count, default: 2, description: 'transcoders each stream rotates over and fails over between' }),
    p2pPort: option({ flag: 'p2p-port', schema: orNone(port), default: null as number | null, description: "libp2p TCP port to hear gossiped node records on (0: any free port; '': no libp2p, nodes register over HTTP)" }),
    bootstrap: option({ flag: 'bootstrap', schema: listOf(multiaddr, 'takes libp2p multiaddrs'), default: [] as string[], description: 'comma-separated multiaddrs of libp2p peers to join through' }),
    announcementMaxAgeMs: option({ flag: 'announcement-max-age-ms', schema: durationMs, default: 10_000, description: 'gossiped records older than this are dropped' }),
  },
  [
    (o) => (o.bootstrap.length > 0 && o.p2pPort === null ? '--bootstrap joins a libp2p network: give --p2p-port too (0 for any free port)' : null),
    (o) => (o.nodeTimeoutMs <= o.heartbeatIntervalMs ? `--node-timeout-ms (${o.nodeTimeoutMs}) must be longer than --heartbeat-interval-ms (${o.heartbeatIntervalMs}), or every node is dropped between heartbeats` : null),
  ],
);

export interface OrchestratorOptions extends OptionsOf<typeof orchestratorOptionsDefinition.table> {}

export const defaultOrchestratorOptions: OrchestratorOptions = defaultsOf(orchestratorOptionsDefinition);
