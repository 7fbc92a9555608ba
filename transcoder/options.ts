// The transcoder's options: flag, type, default and description of each, written once. The
// TranscoderOptions type, defaultTranscoderOptions, `castnet transcoder`'s flags, its config file and
// --help all come from this table.

import { z } from 'zod';
import { listenHost, count, defaultsOf, defineOptions, durationMs, httpUrl, option, orchestratorSetting, orNone, port, size, wei, gossipPresenceOptions, gossipPresenceRules, httpLimitOptions, httpLimitRules, type OptionsOf } from '../config/option-table.ts';
import { defaultHttpLimits } from '../http/http-limits.ts';
import { DEFAULT_P2P_PORTS } from '../p2p/p2p-host.ts';
import { CHAIN_DEFAULTS } from '../settlement/chain-settlement.ts';
import { settlementOptions, settlementRules } from '../settlement/options.ts';

export const transcoderOptionsDefinition = defineOptions(
  {
    host: listenHost(),
    httpPort: option({ flag: 'http-port', schema: port, default: 8936, description: 'HTTP port', deprecatedFlags: ['port'] }),
    publicUrl: option({ flag: 'public-url', schema: orNone(httpUrl), default: null, description: 'URL other nodes reach this one at (none: http://host:http-port)' }),
    orchestrator: option({ flag: 'orchestrator', schema: orchestratorSetting, default: null as string | false | null, description: "orchestrator URL for registration, the ledger and the directory ('' or none: no orchestrator)", show: (v) => (v === null ? "learned from the orchestrator's signed libp2p record with --bootstrap, else http://127.0.0.1:8935" : v === false ? 'none' : v) }),
    encoder: option({ flag: 'encoder', schema: z.enum(['auto', 'libx264', 'h264_nvenc'], { error: 'takes auto, libx264 or h264_nvenc' }), default: 'auto', description: 'auto (h264_nvenc when a GPU answers, else libx264), libx264 or h264_nvenc' }),
    concurrency: option({ flag: 'concurrency', schema: count, default: 2, description: 'segments transcoded at once' }),
    maxQueued: option({ flag: 'max-queued', schema: size, default: 8, description: 'segments waiting before the node answers 503' }),
    maxSegmentBytes: option({ flag: 'max-segment-bytes', schema: count, default: 64 * 1024 * 1024, description: 'largest segment accepted (413 PAYLOAD_TOO_LARGE, checked from content-length before reading)' }),
    dataDir: option({ flag: 'data-dir', schema: orNone(z.string()), default: './.castnet' as string | null, description: "identity key and the queue of winning tickets live here ('': a throwaway key, in memory)" }),
    pricePerPixel: option({ flag: 'price-per-pixel', schema: wei, default: 1n, description: 'wei per output pixel (width × height × frames); 0 works for free' }),
    ticketFaceValue: option({ flag: 'ticket-face-value', schema: wei, default: 1_000_000_000n, description: 'face value of the tickets this node asks for, in wei' }),
    ticketEv: option({ flag: 'ticket-ev', schema: wei, default: 100_000_000n, description: 'expected value of one ticket in wei (win probability = ticket-ev / ticket-face-value)' }),
    ticketTtlMs: option({ flag: 'ticket-ttl-ms', schema: durationMs, default: 600_000, description: 'how long ticket parameters stay valid' }),
    redeemIntervalMs: option({ flag: 'redeem-interval-ms', schema: durationMs, default: 1_000, description: 'how often winning tickets are sent to the ledger or the chain' }),
    fundsRefreshMs: option({ flag: 'funds-refresh-ms', schema: durationMs, default: 2_000, description: "a sender's funds learned less than this ago are not asked again" }),
    fundsMaxAgeMs: option({ flag: 'funds-max-age-ms', schema: durationMs, default: 30_000, description: "the oldest knowledge of a sender's funds used when the ledger or chain cannot be asked; past it, work is refused (funds_unknown)" }),
    ...settlementOptions(),
    redeemBatchSize: option({ flag: 'redeem-batch-size', schema: count, default: CHAIN_DEFAULTS.redeemBatchSize as number, description: 'winning tickets per redemption transaction (--settlement chain)' }),
    chainConfirmations: option({ flag: 'chain-confirmations', schema: count, default: CHAIN_DEFAULTS.confirmations as number, description: 'blocks that must hold a redemption before its tickets count as paid (--settlement chain)' }),
    maxGasPriceWei: option({ flag: 'max-gas-price-wei', schema: wei, default: CHAIN_DEFAULTS.maxGasPriceWei as bigint, description: 'the most paid per gas for a redemption, in wei; above it redemptions wait (--settlement chain)' }),
    ...gossipPresenceOptions(DEFAULT_P2P_PORTS.transcoder),
    ...httpLimitOptions(defaultHttpLimits),
  },
  [
    ...gossipPresenceRules,
    ...httpLimitRules,
    ...settlementRules,
    (o) => (o.fundsMaxAgeMs < o.fundsRefreshMs ? `--funds-max-age-ms (${o.fundsMaxAgeMs}) cannot be shorter than --funds-refresh-ms (${o.fundsRefreshMs})` : null),
    (o) => (o.ticketEv > o.ticketFaceValue ? `--ticket-ev (${o.ticketEv}) cannot exceed --ticket-face-value (${o.ticketFaceValue}): a ticket cannot win more often than always` : null),
    (o) => (o.pricePerPixel > 0n && o.ticketEv === 0n ? '--ticket-ev must be above 0 when --price-per-pixel is: tickets worth nothing could never pay' : null),
  ],
);

export interface TranscoderOptions extends OptionsOf<typeof transcoderOptionsDefinition.table> {}

export const defaultTranscoderOptions: TranscoderOptions = defaultsOf(transcoderOptionsDefinition);
