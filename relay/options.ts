// The relay's options: flag, type, default and description of each, written once. The RelayOptions type,
// defaultRelayOptions, `castnet relay`'s flags, its config file and --help all come from this table.

import { z } from 'zod';
import { listenHost, allowPrivateNodesOption, wei, count, defaultsOf, defineOptions, durationMs, flag, httpUrl, listOf, option, orchestratorSetting, orNone, port, size, gossipPresenceOptions, gossipPresenceRules, httpLimitOptions, httpLimitRules, type OptionsOf } from '../config/option-table.ts';
import { defaultHttpLimits } from '../http/http-limits.ts';
import { DEFAULT_P2P_PORTS } from '../p2p/p2p-host.ts';
import { settlementOptions, settlementRules } from '../settlement/options.ts';

export const relayOptionsDefinition = defineOptions(
  {
    host: listenHost(),
    httpPort: option({ flag: 'http-port', schema: port, default: 8080, description: 'HTTP port for HLS, the player and pushes' }),
    publicUrl: option({ flag: 'public-url', schema: orNone(httpUrl), default: null, description: 'URL viewers and broadcasters reach this relay at (none: the address it listens on)' }),
    orchestrator: option({ flag: 'orchestrator', schema: orchestratorSetting, default: null as string | false | null, description: "orchestrator URL for registration, the ledger and the directory ('' or none: no orchestrator)", show: (v) => (v === null ? "learned from the orchestrator's signed libp2p record with --bootstrap, else http://127.0.0.1:8935" : v === false ? 'none' : v) }),
    playlistSegments: option({ flag: 'playlist-segments', schema: count, default: 6, description: 'segments listed in a live media playlist' }),
    extraSegments: option({ flag: 'extra-segments', schema: size, default: 4, description: 'segments kept beyond the playlist for late players' }),
    streamIdleMs: option({ flag: 'stream-idle-ms', schema: durationMs, default: 60_000, description: 'a stream with no pushes this long is dropped' }),
    maxSessions: option({ flag: 'max-sessions', schema: count, default: 100, description: 'streams this relay offers to hold' }),
    edge: option({ flag: 'edge', schema: flag, default: false, description: 'a pure edge: serves by pulling from parents, refuses pushes (403 PUSH_REFUSED) and is never made a stream\'s origin' }),
    allowPrivateNodes: allowPrivateNodesOption(),
    parents: option({ flag: 'parents', schema: listOf(httpUrl, 'takes http(s) URLs'), default: [] as string[], description: 'parent relays to pull streams from, comma-separated, best first' }),
    discoverParents: option({ flag: 'discover-parents', schema: flag, default: true, description: "find a stream's origin relay in the orchestrator's directory" }),
    cacheBytes: option({ flag: 'cache-bytes', schema: size, default: 512 * 1024 * 1024, description: 'one byte budget for segments pushed here and pulled from parents (pushes evict pulled segments first)' }),
    maxStreams: option({ flag: 'max-streams', schema: count, default: 256, description: 'streams pushed here at most; more are refused with 507 RELAY_FULL' }),
    maxRenditions: option({ flag: 'max-renditions', schema: count, default: 8, description: 'renditions per stream at most; more are refused with 507 RELAY_FULL' }),
    maxSeqAhead: option({ flag: 'max-seq-ahead', schema: count, default: 100, description: 'a pushed sequence number this far past the newest (plus one per 0.5 s of silence) is refused' }),
    maxSegmentBytes: option({ flag: 'max-segment-bytes', schema: count, default: 64 * 1024 * 1024, description: 'largest segment a broadcaster may push (413 PAYLOAD_TOO_LARGE, checked from content-length before reading)' }),
    maxDescriptorBytes: option({ flag: 'max-descriptor-bytes', schema: count, default: 64 * 1024, description: 'largest stream descriptor a broadcaster may push (413 PAYLOAD_TOO_LARGE)' }),
    viewerWindowMs: option({ flag: 'viewer-window-ms', schema: durationMs, default: 30_000, description: 'viewer sessions are counted over this window' }),
    dataDir: option({ flag: 'data-dir', schema: orNone(z.string()), default: './.castnet' as string | null, description: "the relay's identity key lives here ('': a throwaway key)" }),
    pricePerByte: option({ flag: 'price-per-byte', schema: wei, default: 0n, description: 'delivery price, wei per byte served (0: free, no receipts taken); advertised in the signed record' }),
    deliveryTicketFaceValue: option({ flag: 'delivery-ticket-face-value', schema: wei, default: 10n ** 15n, description: 'face value of the tickets payers pay this relay with, in wei' }),
    deliveryTicketEv: option({ flag: 'delivery-ticket-ev', schema: wei, default: 10n ** 12n, description: 'expected value of one ticket, in wei (win probability = this / face value)' }),
    claimIntervalMs: option({ flag: 'claim-interval-ms', schema: durationMs, default: 5_000, description: "how often receipts are claimed from streams' payers" }),
    refuseUnpaid: option({ flag: 'refuse-unpaid', schema: flag, default: false, description: 'refuse segments (402) of streams whose payer stopped paying for delivery' }),
    recording: option({ flag: 'recording', schema: flag, default: false, description: 'keep every segment pushed here as a recording under --data-dir/recordings: VOD at /vod/<recordingId>/master.m3u8, rewind at /dvr/<playbackId>/master.m3u8 (on in castnet dev)' }),
    recordingBytes: option({ flag: 'recording-bytes', schema: count, default: 10 * 1024 ** 3, description: 'bytes of recordings kept at most; beyond it the oldest ended recordings are deleted first (then the oldest segments of live ones), each deletion logged' }),
    maxRecordings: option({ flag: 'max-recordings', schema: count, default: 1_000, description: 'recordings kept at most; beyond it the oldest ended one is deleted' }),
    dvrSeconds: option({ flag: 'dvr-seconds', schema: count, default: 300, description: 'seconds of a live stream its rewind playlist (/dvr/<playbackId>/…) lists, from its recording' }),
    thumbnails: option({ flag: 'thumbnails', schema: flag, default: true, description: 'make /hls/<playbackId>/thumbnail.jpg of streams pushed here from a keyframe about every 10 s (one FFmpeg at a time)' }),
    playbackSecretsFile: option({ flag: 'playback-secrets-file', schema: orNone(z.string()), default: null as string | null, description: "signed playback: JSON file of HS256 secrets per playback id that streamers trusted this relay with (none: ES256 tokens only)" }),
    ...settlementOptions(),
    ...gossipPresenceOptions(DEFAULT_P2P_PORTS.relay),
    ...httpLimitOptions(defaultHttpLimits),
  },
  [
    ...gossipPresenceRules,
    ...httpLimitRules,
    ...settlementRules,
    (o) =>
      o.edge && o.parents.length === 0 && (o.orchestrator === false || !o.discoverParents)
        ? "--edge pulls every stream from a parent: give --parents, or an orchestrator to find them in (--orchestrator with --discover-parents)"
        : null,
    (o) => (o.recording && !o.dataDir ? '--recording keeps its files in --data-dir: give one, or turn --recording off' : null),
    (o) => (o.recording && o.edge ? '--recording records what broadcasters push: an --edge takes no pushes, so it records nothing' : null),
    (o) => (o.discoverParents && o.orchestrator === false ? "--discover-parents looks streams up in the orchestrator's directory: give --orchestrator, or --no-discover-parents" : null),
  ],
);

export interface RelayOptions extends OptionsOf<typeof relayOptionsDefinition.table> {}

export const defaultRelayOptions: RelayOptions = defaultsOf(relayOptionsDefinition);
