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
/**
 * A low-latency start that ends up further than this behind its target latency jumps forward to it once,
 * within what is buffered. hls.js picks its start position when the first media playlist arrives, then loads
 * from the segment's keyframe (parts are INDEPENDENT only there) up to it; the time that takes under load
 * (0.5–2 s on a loaded 2-core machine) would otherwise stay as latency until the catch-up rate works it off.
 */
export const START_JUMP_S = 0.3;
/** The start jump is only taken this soon after the first frame: later, a viewer may be behind on purpose. */
const START_JUMP_WINDOW_MS = 10_000;

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
    // hls.js adds this to the target after each stall (up to a target duration): its default of 1 s is three
    // parts, which one early stall under load would add for good; a part per stall keeps LL's margin honest.
    config.liveSyncOnStallIncrease = hints.partTarget;
    // liveMaxLatencyDuration stays unset (hls.js: no limit): a limit makes hls.js jump back to the edge on
    // every playlist reload, which would undo a viewer's rewind over the DVR window. The catch-up rate covers
    // a stall; the "Go live" control covers a viewer further back.
    return { lowLatency: true, partTarget: hints.partTarget, targetLatency: target };
  }
  config.lowLatencyMode = hints.canBlockReload;
  return { lowLatency: false, partTarget: null, targetLatency: null };
}

/** hls.js's playlist loader, with the latency hints of the first media playlist (or a manifest that is one) applied before parsing. */
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
      // A manifest is looked at too: a source that is a media playlist (one rendition) arrives as the manifest
      // and hls.js parses it as the level, with no second load; a master playlist has no hints and passes.
      if (tuned) return super.load(context, config, callbacks);
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

/** What startAtTarget reads of hls.js: its distance to the live edge and where it syncs a live viewer to. */
export interface LiveSync {
  readonly latency: number;
  readonly targetLatency: number | null;
  readonly liveSyncPosition: number | null;
}

/**
 * Once per load of a low-latency stream, soon after its first frame: if the player sits more than
 * START_JUMP_S behind its target, it moves to the sync position when that is already buffered (a forward
 * seek within the buffer, no reload). Returns whether it jumped. Call it on each buffered fragment.
 */
export function startAtTarget(hls: LiveSync, media: HTMLMediaElement, tuning: LatencyTuning | null, firstFrameAt: number | null, now: number): boolean {
  if (!tuning?.lowLatency || firstFrameAt === null || now - firstFrameAt > START_JUMP_WINDOW_MS || media.paused || media.seeking) return false;
  const target = hls.targetLatency;
  const sync = hls.liveSyncPosition;
  if (target === null || sync === null || !Number.isFinite(hls.latency) || hls.latency - target <= START_JUMP_S || sync <= media.currentTime) return false;
  for (let i = 0; i < media.buffered.length; i++) {
    if (media.buffered.start(i) <= media.currentTime + 0.1 && media.buffered.end(i) >= sync + 0.1) {
      media.currentTime = sync;
      return true;
    }
  }
  return false;
}
