// The broadcaster's options: flag, type, default and description of each, written once. The
// BroadcasterOptions type, defaultBroadcasterOptions, `castnet broadcaster`'s flags, its config file and
// --help all come from this table.

import { z } from 'zod';
import { defaultLadderRungs, parseLadder } from '../protocol/rendition.ts';
import { defaultsOf, defineOptions, durationMs, flag, httpUrl, listOf, option, port, seconds, size, text, wei, type OptionsOf } from '../config/option-table.ts';

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

const showLadder = (rungs: LadderRungs) => rungs.map((r) => `${r.height}p${r.fps}:${Math.round(r.videoBitrate / 1000)}k`).join(',');

export const broadcasterOptionsDefinition = defineOptions(
  {
    host: option({ flag: 'host', schema: text, default: '127.0.0.1', description: 'listen address' }),
    rtmpPort: option({ flag: 'rtmp-port', schema: port, default: 1935, description: 'RTMP ingest port' }),
    httpPort: option({ flag: 'http-port', schema: port, default: 8937, description: 'HTTP port of /healthz and /metrics' }),
    orchestrator: option({ flag: 'orchestrator', schema: httpUrl, default: 'http://127.0.0.1:8935', description: 'orchestrator URL' }),
    dataDir: option({ flag: 'data-dir', schema: text, default: './.castnet', description: 'stream keys and scratch segments live here' }),
    dev: option({ flag: 'dev', schema: flag, default: false, description: 'accept any stream key unless keys are configured' }),
    segmentSeconds: option({ flag: 'segment-seconds', schema: seconds, default: 2, description: 'target segment duration (cut at the next keyframe)' }),
    ladder: option({ flag: 'ladder', schema: ladder, default: defaultLadderRungs, description: "renditions below the source ('': the default)", show: showLadder }),
    maxTranscodeBacklog: option({ flag: 'max-transcode-backlog', schema: size, default: 3, description: 'segments waiting for a transcoder before renditions are skipped' }),
    reconnectGraceMs: option({ flag: 'reconnect-grace-ms', schema: durationMs, default: 30_000, description: 'how long a stream waits for its streamer to reconnect' }),
    sessionRefreshMs: option({ flag: 'session-refresh-ms', schema: durationMs, default: 10_000, description: 'how often stream sessions are refreshed with the orchestrator' }),
    maxPricePerPixel: option({ flag: 'max-price-per-pixel', schema: wei, default: 10n, description: 'the most paid to a transcoder, in wei per output pixel' }),
    transcoderEncoders: option({
      flag: 'transcoder-encoders',
      schema: listOf(z.enum(['libx264', 'h264_nvenc']), 'takes encoders: libx264, h264_nvenc'),
      default: [] as Array<'libx264' | 'h264_nvenc'>,
      description: "only transcoders with one of these encoders, e.g. h264_nvenc ('': any)",
    }),
  },
  [(o) => (o.rtmpPort !== 0 && o.rtmpPort === o.httpPort ? `--rtmp-port and --http-port are both ${o.rtmpPort}: give them different ports` : null)],
);

export interface BroadcasterOptions extends OptionsOf<typeof broadcasterOptionsDefinition.table> {}

export const defaultBroadcasterOptions: BroadcasterOptions = defaultsOf(broadcasterOptionsDefinition);
