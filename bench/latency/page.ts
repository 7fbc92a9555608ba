// bench/latency: the page Chromium runs (bundled with esbuild by page-server.ts). It plays one stream, with
// Castnet's own <castnet-player> (player=castnet) or with hls.js given the options castnet-player gives it,
// minus its segment-verifying loader (player=hls.js, for servers that do not sign segments), or with hls.js in
// low-latency mode with its own live sync (player=hls.js-ll: the origin without castnet-player's settings), and reads the
// frame number back from every frame the browser presents (requestVideoFrameCallback: once per composited
// frame, with the time the frame is expected on screen). It keeps, per frame, the number and that time on
// the wall clock (Date.now(), the clock the publisher stamped frames with), plus the stalls; the bench
// collects `window.latencyReport()` at the end. Runs once a frame: a 136×16 canvas, one read of it.

import Hls from 'hls.js';
import '../../player/castnet-player.ts';
import type { CastnetPlayer } from '../../player/castnet-player.ts';
import { CODE_COLUMNS, CODE_HEIGHT_FRACTION, CODE_ROWS, readFrameCode } from './frame-code.ts';

/** Canvas pixels per code box: the middle 4×4 of each 8×8 is what the reader averages. */
const CELL_PX = 8;

export interface LatencyReport {
  /** [frame number, expected display time (wall clock, ms)] per presented frame that read back. */
  frames: Array<[number, number]>;
  /** Presented frames whose code did not read back, by reason. */
  unreadable: Record<string, number>;
  /** 'waiting' intervals after the first presented frame: [start, end (null: still waiting)], wall clock ms. */
  waiting: Array<[number, number | null]>;
  /** Per 'waiting' interval, what the player stood on when it began: where a stall comes from. */
  waitingAt: WaitingDetail[];
  /** Fatal player errors, media errors, refused segments: anything that makes the run invalid. */
  errors: string[];
  decodedFrames: number;
  droppedFrames: number;
  /** Segments the castnet player checked and accepted (null with plain hls.js). */
  verifiedSegments: number | null;
  playerLatencySeconds: number | null;
  /** hls.js's target distance to the live edge (3 target durations, or PART-HOLD-BACK in low-latency mode). */
  targetLatencySeconds: number | null;
  /** EXT-X-TARGETDURATION and PART-TARGET (null: none) of the playlist played. */
  targetDuration: number | null;
  partTarget: number | null;
  videoSize: string;
  /** Frame callbacks run, and how often the watchdog had to ask for one again. */
  callbacks: number;
  rearmed: number;
  /** castnet-player's status line and relay failovers (empty with plain hls.js). */
  playerStatus: string;
  failovers: number;
  /** castnet-player's low-latency start jump in seconds (null: none, or plain hls.js). */
  startJump: number | null;
}

export interface WaitingDetail {
  /** Wall clock ms the interval began. */
  at: number;
  /** The media time and the buffered media ahead of it, in seconds. */
  currentTime: number;
  bufferAhead: number;
  /** Buffered ranges, [start, end] s, as the media element had them. */
  buffered: Array<[number, number]>;
  playbackRate: number;
  /**
   * The media element was seeking (castnet-player's start jump, within the buffer): the wait is the seek's,
   * not playback running dry. A seek that holds the picture past the stall gap is still a frozen-picture stall.
   */
  seeking: boolean;
}

const params = new URLSearchParams(location.search);
const src = params.get('src') ?? '';
const errors: string[] = [];
const frames: Array<[number, number]> = [];
const unreadable: Record<string, number> = {};
const waiting: Array<[number, number | null]> = [];
const waitingAt: WaitingDetail[] = [];

let video: HTMLVideoElement;
let hls: Hls | null = null;
let player: CastnetPlayer | null = null;
if (params.get('player') === 'castnet') {
  player = document.createElement('castnet-player') as CastnetPlayer;
  player.setAttribute('src', src);
  const directory = params.get('directory');
  if (directory) player.setAttribute('directory', directory);
  document.body.append(player);
  video = player.video;
} else {
  video = document.createElement('video');
  Object.assign(video, { muted: true, autoplay: true, playsInline: true });
  document.body.append(video);
  // castnet-player's options (player/castnet-player.ts), less its fLoader: same buffering, same live sync.
  const QUICK_RETRY = { maxNumRetry: 1, retryDelayMs: 250, maxRetryDelayMs: 500 };
  const loadPolicy = (ttfb: number, load: number) => ({ default: { maxTimeToFirstByteMs: ttfb, maxLoadTimeMs: load, timeoutRetry: QUICK_RETRY, errorRetry: QUICK_RETRY } });
  const common = { enableWorker: true, backBufferLength: 30, manifestLoadPolicy: loadPolicy(5_000, 10_000), playlistLoadPolicy: loadPolicy(8_000, 10_000), fragLoadPolicy: loadPolicy(5_000, 20_000) };
  // player=hls.js-ll: low-latency mode with hls.js's own live sync. Setting liveSyncDurationCount (as
  // castnet-player does) would override PART-HOLD-BACK (hls.js latency-controller: a user-set live sync wins),
  // so the LL player leaves it unset and holds back what the playlist's SERVER-CONTROL says.
  hls = new Hls(params.get('player') === 'hls.js-ll' ? { ...common, lowLatencyMode: true } : { ...common, liveSyncDurationCount: 3 });
  hls.on(Hls.Events.MANIFEST_PARSED, () => void video.play().catch((err: Error) => errors.push(`play(): ${err.message}`)));
  hls.on(Hls.Events.ERROR, (_e, data) => {
    if (!data.fatal) return;
    errors.push(`hls.js ${data.type}: ${data.details}`);
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls!.recoverMediaError();
  });
  hls.loadSource(src);
  hls.attachMedia(video);
}

video.addEventListener('waiting', () => {
  if (frames.length > 0 && (waiting.length === 0 || waiting.at(-1)![1] !== null)) {
    waiting.push([Date.now(), null]);
    const buffered: Array<[number, number]> = [];
    for (let i = 0; i < video.buffered.length; i++) buffered.push([video.buffered.start(i), video.buffered.end(i)]);
    const holding = buffered.find(([a, b]) => a <= video.currentTime + 0.001 && video.currentTime <= b);
    waitingAt.push({ at: Date.now(), currentTime: video.currentTime, bufferAhead: holding ? holding[1] - video.currentTime : 0, buffered, playbackRate: video.playbackRate, seeking: video.seeking });
  }
});
const waitingOver = () => {
  const last = waiting.at(-1);
  if (last && last[1] === null) last[1] = Date.now();
};
video.addEventListener('playing', waitingOver);
video.addEventListener('timeupdate', () => {
  if (!video.paused && video.readyState >= 3) waitingOver();
});

const canvas = document.createElement('canvas');
canvas.width = CODE_COLUMNS * CELL_PX;
canvas.height = CODE_ROWS * CELL_PX;
const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
let videoSize = '';

function onFrame(_now: number, meta: VideoFrameCallbackMetadata): void {
  // The performance timeline to the wall clock, read now: the publisher stamped frames with Date.now().
  const displayedAt = Date.now() - performance.now() + meta.expectedDisplayTime;
  videoSize = `${meta.width}x${meta.height}`;
  try {
    ctx.drawImage(video, 0, 0, meta.width, meta.height * CODE_HEIGHT_FRACTION, 0, 0, canvas.width, canvas.height);
    const read = readFrameCode({ width: canvas.width, height: canvas.height, channels: 4, data: ctx.getImageData(0, 0, canvas.width, canvas.height).data });
    if (read.ok) frames.push([read.n, displayedAt]);
    else unreadable[read.reason.replace(/\d+/g, '#')] = (unreadable[read.reason.replace(/\d+/g, '#')] ?? 0) + 1;
  } catch (err) {
    // A canvas that cannot be read (a tainted one) makes the case invalid; said once, not per frame.
    const line = `frame read-back: ${(err as Error).message}`;
    if (!errors.includes(line)) errors.push(line);
  }
  arm();
}
// The callback is asked for again after each frame. A player that reloads its source (castnet-player's retry
// and failover tear hls.js down and attach a new one) can drop the pending request, and then no frame is ever
// read again although frames keep being decoded: a watchdog asks again when none came for a while.
let pending = 0;
let callbacks = 0;
let rearmed = 0;
let lastCallbackAt = performance.now();
function arm(): void {
  video.cancelVideoFrameCallback(pending);
  pending = video.requestVideoFrameCallback((now, meta) => {
    callbacks++;
    lastCallbackAt = performance.now();
    onFrame(now, meta);
  });
}
arm();
const REARM_MS = 500;
setInterval(() => {
  if (performance.now() - lastCallbackAt > REARM_MS && !video.paused) {
    rearmed++;
    lastCallbackAt = performance.now();
    arm();
  }
}, REARM_MS);

(window as unknown as { latencyReport: () => LatencyReport }).latencyReport = () => {
  const quality = video.getVideoPlaybackQuality();
  const all = [...errors, ...(player?.errors ?? []), ...(video.error ? [`media error ${video.error.code}: ${video.error.message}`] : [])];
  const verification = player?.verification ?? null;
  if (verification && verification.refused > 0) all.push(`${verification.refused} segments refused by the player: ${JSON.stringify(verification.refusals.slice(-3))}`);
  // hls.js's own estimate of the distance to the live edge, for comparison (castnet-player keeps its instance private).
  const instance = hls ?? ((player as unknown as { hls: Hls | null } | null)?.hls ?? null);
  const details = instance?.levels[Math.max(0, instance.currentLevel)]?.details;
  return {
    frames,
    unreadable,
    waiting,
    waitingAt,
    errors: all,
    decodedFrames: quality.totalVideoFrames,
    droppedFrames: quality.droppedVideoFrames,
    verifiedSegments: verification ? verification.verified : null,
    playerLatencySeconds: instance && Number.isFinite(instance.latency) ? instance.latency : null,
    targetLatencySeconds: instance?.targetLatency ?? null,
    targetDuration: details?.targetduration ?? null,
    partTarget: details?.partTarget || null,
    videoSize,
    callbacks,
    rearmed,
    playerStatus: player?.shadowRoot?.querySelector('.status')?.textContent ?? '',
    failovers: player?.failovers.length ?? 0,
    startJump: player?.startJump ?? null,
  };
};
