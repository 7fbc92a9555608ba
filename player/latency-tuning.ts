// Live latency tuning of hls.js, chosen from what the media playlist advertises. A playlist with parts
// (EXT-X-PART-INF) gets low-latency mode, a target latency of its PART-HOLD-BACK and a bounded catch-up
// playback rate; one without keeps hls.js's segment behaviour (start 3 target durations back, no rate change).
// The playlist loader reads the text before hls.js parses it, so the start position is already the LL one.

import Hls, { type HlsConfig, type Loader, type LoaderCallbacks, type LoaderConfiguration, type PlaylistLoaderContext } from 'hls.js';

/**
 * Catch-up rate after a stall: hls.js speeds up to this rate while the player is within one target duration
 * of its target latency. 1.2 is inaudible on speech and catches up 1 s in 5 s of playback.
 */
export const MAX_CATCH_UP_RATE = 1.2;
/** PART-HOLD-BACK floor in part targets (RFC 8216bis §4.4.3.8): what is used when a playlist omits it. */
const PART_HOLD_BACK_TARGETS = 3;

export interface LatencyTuning {
  /** Parts advertised: low-latency mode on. */
  lowLatency: boolean;
  partTarget: number | null;
  /** Seconds behind the live edge hls.js aims at. */
  targetLatency: number | null;
}

/** What a media playlist's text says about parts and blocking reload. */
export function readLatencyHints(text: string): { partTarget: number | null; partHoldBack: number | null; canBlockReload: boolean } | null {
  if (!text.includes('#EXTINF') && !text.includes('#EXT-X-PART-INF') && !text.includes('#EXT-X-TARGETDURATION')) return null;
  const partTarget = /#EXT-X-PART-INF:.*PART-TARGET=([\d.]+)/.exec(text)?.[1];
  const holdBack = /#EXT-X-SERVER-CONTROL:.*PART-HOLD-BACK=([\d.]+)/.exec(text)?.[1];
  return {
    partTarget: partTarget ? Number(partTarget) : null,
    partHoldBack: holdBack ? Number(holdBack) : null,
    canBlockReload: /#EXT-X-SERVER-CONTROL:.*CAN-BLOCK-RELOAD=YES/.test(text),
  };
}

/**
 * Sets hls.js's config from the first media playlist: called before hls.js parses it. Low-latency mode is
 * on with parts; without parts it stays on only where the playlist offers blocking reload (hls.js asks for
 * the next segment with _HLS_msn, which is today's behaviour for Castnet playlists) and no catch-up rate.
 */
export function applyLatencyHints(config: HlsConfig, hints: NonNullable<ReturnType<typeof readLatencyHints>>): LatencyTuning {
  if (hints.partTarget && hints.partTarget > 0) {
    const target = hints.partHoldBack ?? hints.partTarget * PART_HOLD_BACK_TARGETS;
    config.lowLatencyMode = true;
    config.liveSyncDuration = target;
    config.maxLiveSyncPlaybackRate = MAX_CATCH_UP_RATE;
    // liveMaxLatencyDuration stays unset (hls.js: no limit): a limit makes hls.js jump back to the edge on
    // every playlist reload, which would undo a viewer's rewind over the DVR window. The catch-up rate covers
    // a stall; the "Go live" control covers a viewer further back.
    return { lowLatency: true, partTarget: hints.partTarget, targetLatency: target };
  }
  config.lowLatencyMode = hints.canBlockReload;
  return { lowLatency: false, partTarget: null, targetLatency: null };
}

/** hls.js's playlist loader, with the latency hints of the first media playlist applied before parsing. */
export function latencyTuningLoader(onTuned: (tuning: LatencyTuning) => void): new (config: HlsConfig) => Loader<PlaylistLoaderContext> {
  const Base = Hls.DefaultConfig.loader as unknown as new (config: HlsConfig) => Loader<PlaylistLoaderContext>;
  let tuned = false;
  return class LatencyTuningLoader extends Base {
    private readonly hlsConfig: HlsConfig;
    constructor(config: HlsConfig) {
      super(config);
      this.hlsConfig = config;
    }
    override load(context: PlaylistLoaderContext, config: LoaderConfiguration, callbacks: LoaderCallbacks<PlaylistLoaderContext>): void {
      if (tuned || context.type === 'manifest') return super.load(context, config, callbacks);
      super.load(context, config, {
        ...callbacks,
        onSuccess: (response, stats, ctx, details) => {
          const hints = !tuned && typeof response.data === 'string' ? readLatencyHints(response.data) : null;
          if (hints) {
            tuned = true;
            onTuned(applyLatencyHints(this.hlsConfig, hints));
          }
          callbacks.onSuccess(response, stats, ctx, details);
        },
      });
    }
  };
}
