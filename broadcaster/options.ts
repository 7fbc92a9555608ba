// The broadcaster's options: flag, type, default and description of each, written once. The
// BroadcasterOptions type, defaultBroadcasterOptions, `castnet broadcaster`'s flags, its config file and
// --help all come from this table.

import { z } from 'zod';
import { DEFAULT_VERIFY_RATE, VERIFY_FIRST_SEGMENTS } from './output-verifier.ts';
import { defaultLadderRungs, parseLadder } from '../protocol/rendition.ts';
import { listenHost, allowPrivateNodesOption, orNone, count, defaultsOf, defineOptions, durationMs, flag, httpUrl, integer, listOf, option, port, seconds, size, text, wei, httpLimitOptions, httpLimitRules, type OptionsOf } from '../config/option-table.ts';
import { defaultHttpLimits } from '../http/http-limits.ts';
import { defaultRtmpLimits } from './rtmp/rtmp-server.ts';
import { settlementOptions, settlementRules } from '../settlement/options.ts';

type LadderRungs = ReadonlyArray<{ height: number; fps: number; videoBitrate: number; audioBitrate: number }>;

/** `720p30:2800k,480p30:1200k`; '' is the default ladder. */
const ladder = z.string({ error: 'takes rungs such as 720p30:2800k,480p30:1200k' }).transform((s, ctx): LadderRungs => {
  if (s.trim() === '') return defaultLadderRungs;
  try {
    return parseLadder(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** Where OBS publishes: `rtmp(s)://host[:port]/live`, as a streamer types it into OBS's Server field. */
const rtmpUrl = z
  .string({ error: 'takes an rtmp:// URL ending in /live' })
  .refine((s) => URL.canParse(s) && /^rtmps?:$/.test(new URL(s).protocol) && new URL(s).pathname.replace(/\/+$/, '') === '/live' && !new URL(s).username, { error: 'takes an rtmp:// URL ending in /live, e.g. rtmp://live.example.com/live' })
  .transform((s) => s.replace(/\/+$/, ''));

const showLadder = (rungs: LadderRungs) => rungs.map((r) => `${r.height}p${r.fps}:${Math.round(r.videoBitrate / 1000)}k`).join(',');

export const broadcasterOptionsDefinition = defineOptions(
  {
    host: listenHost(),
    rtmpPort: option({ flag: 'rtmp-port', schema: port, default: 1935, description: 'RTMP ingest port' }),
    httpPort: option({ flag: 'http-port', schema: port, default: 8937, description: 'HTTP port of /healthz, /metrics, the delivery API and /admin/stream-keys' }),
    orchestrator: option({ flag: 'orchestrator', schema: httpUrl, default: 'http://127.0.0.1:8935', description: 'orchestrator URL' }),
    allowPrivateNodes: allowPrivateNodesOption(),
    dataDir: option({ flag: 'data-dir', schema: text, default: './.castnet', description: 'stream keys and scratch segments live here' }),
    dev: option({ flag: 'dev', schema: flag, default: false, description: 'accept any stream key unless keys are configured' }),
    segmentSeconds: option({ flag: 'segment-seconds', schema: seconds, default: 2, description: 'target segment duration (cut at the next keyframe)' }),
    lowLatency: option({ flag: 'low-latency', schema: flag, default: false, description: 'low-latency HLS: the source as CMAF parts pushed as they are cut (EXT-X-PART, blocking reload, preload hints)' }),
    progressiveTranscode: option({ flag: 'progressive-transcode', schema: flag, default: true, description: 'with --low-latency: renditions are CMAF with parts too, each segment streamed to its transcoder while it is ingested and its renditions published part by part (--no-progressive-transcode: MPEG-TS renditions, transcoded once their segment is whole)' }),
    partTarget: option({ flag: 'part-target', schema: seconds, default: 0.334, description: 'low-latency part duration target in seconds (PART-TARGET; PART-HOLD-BACK is three of them)' }),
    ladder: option({ flag: 'ladder', schema: ladder, default: defaultLadderRungs, description: "renditions below the source ('': the default)", show: showLadder }),
    maxTranscodeBacklog: option({ flag: 'max-transcode-backlog', schema: size, default: 3, description: 'segments waiting for a transcoder before renditions are skipped' }),
    reconnectGraceMs: option({ flag: 'reconnect-grace-ms', schema: durationMs, default: 30_000, description: 'how long a stream waits for its streamer to reconnect' }),
    sessionRefreshMs: option({ flag: 'session-refresh-ms', schema: durationMs, default: 10_000, description: 'how often stream sessions are refreshed with the orchestrator' }),
    maxPricePerPixel: option({ flag: 'max-price-per-pixel', schema: wei, default: 10n, description: 'the most paid to a transcoder, in wei per output pixel' }),
    maxPricePerByte: option({ flag: 'max-price-per-byte', schema: wei, default: 0n, description: 'the most paid to a relay, in wei per byte delivered (0: relays are not paid, players sign no receipts)' }),
    deliveryMaxFaceValue: option({ flag: 'delivery-max-face-value', schema: wei, default: 10n ** 16n, description: 'the largest ticket face value signed for a relay, in wei' }),
    viewerSessionTtlMs: option({ flag: 'viewer-session-ttl-ms', schema: durationMs, default: 30 * 60_000, description: 'how long a viewer session certificate is valid (players renew before)' }),
    viewerSessionBytes: option({ flag: 'viewer-session-bytes', schema: size, default: 4 * 1024 ** 3, description: 'bytes one viewer session may be paid for' }),
    rtmpPublicUrl: option({ flag: 'rtmp-public-url', schema: orNone(rtmpUrl), default: null as string | null, description: "OBS's Server as a new stream key's answer names it, e.g. rtmp://live.example.com/live (none: rtmp://<host>:<rtmp-port>/live)" }),
    keyAdmin: option({ flag: 'key-admin', schema: flag, default: true, description: "POST/GET /admin/stream-keys with this data directory's admin token (castnet keys admin-token): an orchestrator's dashboard makes keys here (--no-key-admin: refused, 403)" }),
    watchBaseUrl: option({ flag: 'watch-base-url', schema: orNone(httpUrl), default: null, description: 'relay URL viewers watch at: a key made over /admin/stream-keys answers <url>/watch/<playback id> (none: no watch URL)' }),
    publicUrl: option({ flag: 'public-url', schema: orNone(httpUrl), default: null, description: "URL players and relays reach this broadcaster's delivery API at (none: the address it listens on)" }),
    transcoderEncoders: option({
      flag: 'transcoder-encoders',
      schema: listOf(z.enum(['libx264', 'h264_nvenc']), 'takes encoders: libx264, h264_nvenc'),
      default: [] as Array<'libx264' | 'h264_nvenc'>,
      description: "only transcoders with one of these encoders, e.g. h264_nvenc ('': any)",
    }),
    verifyFirst: option({ flag: 'verify-first', schema: size, default: VERIFY_FIRST_SEGMENTS, description: "segments from each transcoder new to a stream compared with the source before they are published" }),
    verifyRate: option({
      flag: 'verify-rate',
      schema: z.preprocess((v) => (typeof v === 'string' ? Number(v) : v), z.number({ error: 'takes a share from 0 to 1' }).min(0, { error: 'takes a share from 0 to 1' }).max(1, { error: 'takes a share from 0 to 1' })),
      default: DEFAULT_VERIFY_RATE,
      description: 'share of later segments compared with the source (SSIM) before they are published',
    }),
    // RTMP ingest limits: anyone can connect and send chunks before a stream key is checked.
    rtmpMaxConnections: option({ flag: 'rtmp-max-connections', schema: count, default: defaultRtmpLimits.rtmpMaxConnections, description: 'RTMP connections open at once' }),
    rtmpMaxConnectionsPerIp: option({ flag: 'rtmp-max-connections-per-ip', schema: count, default: defaultRtmpLimits.rtmpMaxConnectionsPerIp, description: 'RTMP connections open at once from one address' }),
    rtmpHandshakeTimeoutMs: option({ flag: 'rtmp-handshake-timeout-ms', schema: durationMs, default: defaultRtmpLimits.rtmpHandshakeTimeoutMs, description: 'how long an RTMP client has to finish its handshake' }),
    rtmpIdleTimeoutMs: option({ flag: 'rtmp-idle-timeout-ms', schema: durationMs, default: defaultRtmpLimits.rtmpIdleTimeoutMs, description: 'an RTMP connection with no message for this long is closed' }),
    rtmpMaxMessageBytes: option({
      flag: 'rtmp-max-message-bytes',
      schema: integer(1, 0xffffff, 'takes a byte count from 1 to 16777215 (the RTMP length field is 24-bit)'),
      default: defaultRtmpLimits.rtmpMaxMessageBytes,
      description: 'the largest RTMP message (a video frame) accepted',
    }),
    rtmpMaxChunkStreams: option({ flag: 'rtmp-max-chunk-streams', schema: count, default: defaultRtmpLimits.rtmpMaxChunkStreams, description: 'RTMP chunk streams one connection may open' }),
    publishesPerKeyPerMinute: option({ flag: 'publishes-per-key-per-minute', schema: count, default: 12, description: 'publishes (first, reconnect or takeover) one stream key may start in a minute; past it a publish is refused' }),
    rtmpMaxReassemblyBytes: option({ flag: 'rtmp-max-reassembly-bytes', schema: count, default: defaultRtmpLimits.rtmpMaxReassemblyBytes, description: 'bytes of partial RTMP messages one connection may hold' }),
    ...httpLimitOptions(defaultHttpLimits),
    // Where the deposit that pays for tickets lives (the broadcaster reads it; castnet deposit funds it).
    ...settlementOptions(),
  },
  [(o) => (o.rtmpPort !== 0 && o.rtmpPort === o.httpPort ? `--rtmp-port and --http-port are both ${o.rtmpPort}: give them different ports` : null), ...settlementRules, ...httpLimitRules],
);

export interface BroadcasterOptions extends OptionsOf<typeof broadcasterOptionsDefinition.table> {}

export const defaultBroadcasterOptions: BroadcasterOptions = defaultsOf(broadcasterOptionsDefinition);
