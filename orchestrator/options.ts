// The orchestrator's options: flag, type, default and description of each, written once. The
// OrchestratorOptions type, defaultOrchestratorOptions, `castnet orchestrator`'s flags, its config file and
// --help all come from this table.

import { z } from 'zod';
import { listenHost, allowPrivateNodesOption, count, defaultsOf, defineOptions, durationMs, flag, httpUrl, listOf, multiaddr, option, orNone, port, size, httpLimitOptions, httpLimitRules, type OptionsOf } from '../config/option-table.ts';
import { defaultHttpLimits } from '../http/http-limits.ts';
import { addressString } from '../protocol/fields.ts';
import { WEBHOOK_SECRET_MIN_CHARS, webhookEndpointSchema, webhookUrlSchema } from '../protocol/webhook.ts';
import { DEFAULT_P2P_PORTS } from '../p2p/p2p-host.ts';
import { settlementOptions, settlementRules } from '../settlement/options.ts';

export const orchestratorOptionsDefinition = defineOptions(
  {
    host: listenHost(),
    httpPort: option({ flag: 'http-port', schema: port, default: 8935, description: 'HTTP port of the API', deprecatedFlags: ['api-port'] }),
    dataDir: option({ flag: 'data-dir', schema: orNone(z.string()), default: './.castnet' as string | null, description: "the ticket ledger (ledger.sqlite, with --settlement ledger) lives here ('': in memory)" }),
    heartbeatIntervalMs: option({ flag: 'heartbeat-interval-ms', schema: durationMs, default: 2_000, description: 'how often nodes heartbeat' }),
    nodeTimeoutMs: option({ flag: 'node-timeout-ms', schema: durationMs, default: 8_000, description: 'a node silent this long is dropped' }),
    streamTtlMs: option({ flag: 'stream-ttl-ms', schema: durationMs, default: 30_000, description: 'a stream not refreshed this long leaves the directory' }),
    transcodersPerStream: option({ flag: 'transcoders-per-stream', schema: count, default: 2, description: 'transcoders each stream rotates over and fails over between' }),
    publicUrl: option({ flag: 'public-url', schema: orNone(httpUrl), default: null, description: 'URL nodes reach the API at, announced over libp2p (none: http://host:http-port)' }),
    p2p: option({ flag: 'p2p', schema: flag, default: false, description: "run a libp2p host: hear nodes' gossiped records and announce this orchestrator (without it nodes register over HTTP)" }),
    p2pPort: option({ flag: 'p2p-port', schema: port, default: DEFAULT_P2P_PORTS.orchestrator as number, description: 'libp2p TCP port, with --p2p (0: any free port)' }),
    p2pAnnounce: option({ flag: 'p2p-announce', schema: listOf(multiaddr, 'takes libp2p multiaddrs'), default: [] as string[], description: "comma-separated multiaddrs peers dial this host at, e.g. behind NAT (none: the listen addresses, under --public-url's host when it is set)" }),
    announceIntervalMs: option({ flag: 'announce-interval-ms', schema: durationMs, default: 2_000, description: "how often the orchestrator's signed record is gossiped" }),
    bootstrap: option({ flag: 'bootstrap', schema: listOf(multiaddr, 'takes libp2p multiaddrs'), default: [] as string[], description: 'comma-separated multiaddrs of libp2p peers to join through' }),
    announcementMaxAgeMs: option({ flag: 'announcement-max-age-ms', schema: durationMs, default: 10_000, description: 'gossiped records older than this are dropped' }),
    admission: option({ flag: 'admission', schema: z.enum(['open', 'allowlist'], { error: 'takes open or allowlist' }), default: 'open' as 'open' | 'allowlist', description: 'which node keys may register: open (any that proves its URL, unless denied) or allowlist (only those allowed with castnet nodes allow)' }),
    allowPrivateNodes: allowPrivateNodesOption(),
    operators: option({ flag: 'operators', schema: listOf(addressString, 'takes addresses (0x and 40 hex digits)'), default: [] as string[], description: "comma-separated addresses whose signed requests count as the operator's (deposits, admission), besides <data-dir>/keys/operator.key's" }),
    maxNodes: option({ flag: 'max-nodes', schema: count, default: 10_000, description: 'nodes the registry holds at most' }),
    maxNodesPerSource: option({ flag: 'max-nodes-per-source', schema: count, default: 64, description: 'nodes registered from one source address at most' }),
    newNodesPerMinute: option({ flag: 'new-nodes-per-minute', schema: count, default: 60, description: 'new node keys one source address may register per minute' }),
    writesPerSecond: option({ flag: 'writes-per-second', schema: count, default: 50, description: 'signed writes one source address may make per second (bursts of four times that)' }),
    maxStreamsPerKey: option({ flag: 'max-streams-per-key', schema: count, default: 1_000, description: 'stream sessions one broadcaster key may hold at once' }),
    banMs: option({ flag: 'ban-ms', schema: durationMs, default: 3_600_000, description: 'how long a node banned for repeated failures stays banned' }),
    banPoints: option({ flag: 'ban-points', schema: count, default: 10, description: 'failure points at which a node is banned (a report weighs 1, bad output 2, failed verification 3; points halve every 10 minutes)' }),
    webhookUrls: option({ flag: 'webhook-urls', schema: listOf(webhookUrlSchema, 'takes http(s) URLs'), default: [] as string[], description: "comma-separated receivers of every stream's webhooks (stream keys name their own with castnet keys webhook); private addresses only with --allow-private-nodes" }),
    webhookSecret: option({ flag: 'webhook-secret', schema: orNone(webhookEndpointSchema.shape.secret), default: null as string | null, description: `the secret global webhooks are signed with (HMAC-SHA256; at least ${WEBHOOK_SECRET_MIN_CHARS} characters; better in the config file than on the command line)` }),
    webhookRetryMs: option({ flag: 'webhook-retry-ms', schema: durationMs, default: 1_000, description: 'first webhook retry after this long, doubling each time up to 10 minutes' }),
    webhookMaxAttempts: option({ flag: 'webhook-max-attempts', schema: count, default: 8, description: 'attempts of one webhook delivery before it is marked failed' }),
    dashboardMaxViewers: option({ flag: 'dashboard-max-viewers', schema: count, default: 64, description: 'live dashboard connections (/dashboard/events) at once; past it: 503, and the page polls /dashboard/snapshot' }),
    keyIssuerUrl: option({ flag: 'key-issuer-url', schema: orNone(httpUrl), default: null as string | null, description: "a broadcaster's HTTP URL: the dashboard's stream-key routes make and list keys there (its /admin/stream-keys; needs --key-issuer-token-file). None: only a broadcaster in this process (castnet dev)" }),
    keyIssuerTokenFile: option({ flag: 'key-issuer-token-file', schema: orNone(z.string()), default: null as string | null, description: "file holding that broadcaster's admin token (castnet keys admin-token --data-dir <its data dir> prints it; a file, so the token is never on a command line)" }),
    keyIssuerTimeoutMs: option({ flag: 'key-issuer-timeout-ms', schema: durationMs, default: 5_000, description: 'how long a call to the key issuer may take, its answer included (past it: 503 key_issuer_unreachable)' }),
    ...settlementOptions(),
    maxWriteBytes: option({ flag: 'max-write-bytes', schema: count, default: 256 * 1024, description: 'largest body of a write under /api (a heartbeat with its stats; 413 PAYLOAD_TOO_LARGE)' }),
    ...httpLimitOptions(defaultHttpLimits),
    chainFromBlock: option({ flag: 'chain-from-block', schema: size, default: 0, description: "with --settlement chain: the block the broker's events are read from for /api/nodes earnings (its deployment block saves reading older ones)" }),
  },
  [
    ...settlementRules,
    (o) => (o.webhookUrls.length > 0 && !o.webhookSecret ? '--webhook-urls needs --webhook-secret: receivers verify every delivery with it' : null),
    ...httpLimitRules,
    (o) => (o.keyIssuerUrl && !o.keyIssuerTokenFile ? "--key-issuer-url needs --key-issuer-token-file: the broadcaster's admin routes refuse calls without its admin token" : null),
    (o) => (o.keyIssuerTokenFile && !o.keyIssuerUrl ? '--key-issuer-token-file is the token of the broadcaster at --key-issuer-url: give --key-issuer-url too' : null),
    (o) => (o.bootstrap.length > 0 && !o.p2p ? '--bootstrap joins a libp2p network: give --p2p too' : null),
    (o) => (o.p2pAnnounce.length > 0 && !o.p2p ? '--p2p-announce names the libp2p host: give --p2p too' : null),
    (o) => (o.nodeTimeoutMs <= o.heartbeatIntervalMs ? `--node-timeout-ms (${o.nodeTimeoutMs}) must be longer than --heartbeat-interval-ms (${o.heartbeatIntervalMs}), or every node is dropped between heartbeats` : null),
  ],
);

export interface OrchestratorOptions extends OptionsOf<typeof orchestratorOptionsDefinition.table> {}

export const defaultOrchestratorOptions: OrchestratorOptions = defaultsOf(orchestratorOptionsDefinition);
