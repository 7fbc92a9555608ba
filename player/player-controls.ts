// The player's own controls inside <castnet-player>'s shadow root: play/pause, mute, a seek bar over hls.js's
// seekable range (DVR on live, a normal bar on VOD), the live indicator and "Go live", the quality menu,
// the stats overlay, fullscreen, the poster, the state line (offline, starting, playing, buffering, ended,
// error) and the keyboard (k/space, m, f, i, arrows). castnet-player.ts owns hls.js and tells this object
// what happens; this object only reads hls.js and the video, and asks them to play, seek or switch.

import type Hls from 'hls.js';
import type { LatencyTuning } from './latency-tuning.ts';
import type { ReceiptsState } from './receipts.ts';
import type { VerificationState } from './segment-verifier.ts';

export type PlayerState = 'offline' | 'starting' | 'playing' | 'paused' | 'buffering' | 'ended' | 'error';

/** What the controls read from the player element. */
export interface PlayerControlsHost {
  hls(): Hls | null;
  relay(): string | null;
  verification(): VerificationState | null;
  delivery(): ReceiptsState | null;
  tuning(): LatencyTuning | null;
}

const SEEK_STEP_S = 5;
const TICK_MS = 500;
/** "Go live" shows this far behind the sync position: 1.5 target durations, or 3 part targets with parts. */
const BEHIND_TARGET_DURATIONS = 1.5;
const BEHIND_PART_TARGETS = 3;

export const controlsStyle = `
:host { container-type: inline-size; }
:host(:focus-visible), button:focus-visible, input:focus-visible, [role=menuitemradio]:focus-visible { outline: 3px solid #4fc3f7; outline-offset: -3px; }
.bar { position: absolute; left: 0; right: 0; bottom: 0; display: flex; align-items: center; gap: 4px; padding: 4px 6px; background: linear-gradient(transparent, rgba(0,0,0,.75)); box-sizing: border-box; }
.bar button svg { display: block; margin: auto; pointer-events: none; }
.bar button { flex: none; min-width: 32px; height: 32px; padding: 0 6px; border: 0; border-radius: 4px; background: transparent; color: #fff; font: inherit; cursor: pointer; }
.bar button:hover { background: rgba(255,255,255,.15); }
.bar button[hidden], .menu[hidden], .stats[hidden] { display: none; }
.seek { flex: 1 1 auto; min-width: 40px; accent-color: #e53935; }
.seek:disabled { visibility: hidden; }
.time { flex: none; font-variant-numeric: tabular-nums; font-size: 12px; white-space: nowrap; }
.live-dot { font-weight: 700; letter-spacing: .04em; }
.live-dot.edge { background: #c62828; }
.live-dot.edge:hover { background: #d32f2f; }
.golive { background: rgba(255,255,255,.2) !important; }
.menu { position: absolute; right: 6px; bottom: 44px; min-width: 150px; max-height: calc(100% - 56px); overflow: auto; margin: 0; padding: 4px 0; list-style: none; background: rgba(20,20,20,.95); border-radius: 6px; }
.menu li { padding: 6px 12px; cursor: pointer; white-space: nowrap; }
.menu li[aria-checked=true]::before { content: '✓ '; }
.menu li:hover, .menu li:focus { background: rgba(255,255,255,.15); outline: none; }
.stats { position: absolute; top: 36px; left: 8px; margin: 0; padding: 6px 10px; max-width: calc(100% - 16px); box-sizing: border-box; background: rgba(0,0,0,.8); border-radius: 4px; font: 12px ui-monospace, monospace; display: grid; grid-template-columns: auto 1fr; gap: 1px 10px; overflow: hidden; }
.stats dt { color: #aaa; }
.stats dd { margin: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
@container (max-width: 420px) { .time, .quality-label { display: none; } .bar { gap: 2px; padding: 2px; } .bar button { min-width: 28px; padding: 0 4px; } }
`;

/**
 * The buttons' icons, inline SVG drawn in currentColor: glyphs such as U+1F507 or U+26F6 are missing from
 * common fonts (Debian's DejaVu draws boxes), and an icon font or image would be one more request. Static
 * strings only; nothing from a stream or a URL is ever written as markup.
 */
const svg = (d: string) => `<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false"><path fill="currentColor" d="${d}"/></svg>`;
export const ICONS = {
  play: svg('M8 5v14l11-7z'),
  pause: svg('M6 5h4v14H6zm8 0h4v14h-4z'),
  muted: svg('M3 9v6h4l5 5V4L7 9zm13.6 3 2.7-2.7-1.4-1.4-2.7 2.7-2.7-2.7-1.4 1.4 2.7 2.7-2.7 2.7 1.4 1.4 2.7-2.7 2.7 2.7 1.4-1.4z'),
  sound: svg('M3 9v6h4l5 5V4L7 9zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4zM14 3.2v2.1a7 7 0 0 1 0 13.4v2.1a9 9 0 0 0 0-17.6z'),
  settings: svg('M19.4 13a7.5 7.5 0 0 0 0-2l2.1-1.6-2-3.4-2.5 1a7.4 7.4 0 0 0-1.7-1L15 3.3h-4l-.4 2.7a7.4 7.4 0 0 0-1.7 1l-2.5-1-2 3.4L6.6 11a7.5 7.5 0 0 0 0 2l-2.1 1.6 2 3.4 2.5-1a7.4 7.4 0 0 0 1.7 1l.4 2.7h4l.4-2.7a7.4 7.4 0 0 0 1.7-1l2.5 1 2-3.4zM12 15.5a3.5 3.5 0 1 1 0-7 3.5 3.5 0 0 1 0 7z'),
  fullscreen: svg('M4 4h6v2H6v4H4zm10 0h6v6h-2V6h-4zM4 14h2v4h4v2H4zm14 0h2v6h-6v-2h4z'),
  exitFullscreen: svg('M8 4h2v6H4V8h4zm6 0h2v4h4v2h-6zM4 14h6v6H8v-4H4zm10 0h6v2h-4v4h-2z'),
} as const;
export type IconName = keyof typeof ICONS;

export const controlsHtml = `
<dl class="stats" hidden aria-live="off" aria-label="Playback statistics"></dl>
<ul class="menu" role="menu" aria-label="Quality" hidden></ul>
<div class="bar" role="group" aria-label="Player controls">
  <button class="play" type="button" aria-label="Play" data-icon="play">${ICONS.play}</button>
  <button class="mute" type="button" aria-label="Unmute" data-icon="muted">${ICONS.muted}</button>
  <input class="seek" type="range" min="0" max="0" step="0.1" value="0" aria-label="Seek" disabled>
  <span class="time" aria-hidden="true"></span>
  <button class="live-dot" type="button" aria-label="Live" hidden>LIVE</button>
  <button class="golive" type="button" aria-label="Go to the live edge" hidden>Go live</button>
  <button class="quality" type="button" aria-label="Quality" aria-haspopup="menu" aria-expanded="false">${ICONS.settings}<span class="quality-label"> Auto</span></button>
  <button class="stats-toggle" type="button" aria-label="Show statistics" aria-pressed="false">i</button>
  <button class="fullscreen" type="button" aria-label="Full screen" data-icon="fullscreen">${ICONS.fullscreen}</button>
</div>`;

/** Swaps a button's icon only when it changes (render runs every tick). */
function setIcon(button: HTMLElement, name: IconName): void {
  if (button.dataset.icon === name) return;
  button.dataset.icon = name;
  button.innerHTML = ICONS[name];
}

const clock = (s: number) => {
  if (!Number.isFinite(s)) return '--:--';
  const t = Math.max(0, Math.floor(s));
  const h = Math.floor(t / 3600);
  const mm = String(Math.floor((t % 3600) / 60)).padStart(h ? 2 : 1, '0');
  return `${h ? `${h}:` : ''}${mm}:${String(t % 60).padStart(2, '0')}`;
};
const mbps = (bps: number) => (bps >= 1e6 ? `${(bps / 1e6).toFixed(1)} Mbps` : `${Math.round(bps / 1e3)} kbps`);

export class PlayerControls {
  private state: PlayerState = 'starting';
  private reason = '';
  private live = false;
  /** The stream had been live when its playlist got ENDLIST: it ended, rather than being a VOD. */
  private wasLive = false;
  private ended = false;
  private timer: number | undefined;
  private readonly el: Record<'bar' | 'play' | 'mute' | 'seek' | 'time' | 'liveDot' | 'goLive' | 'quality' | 'qualityLabel' | 'statsToggle' | 'fullscreen' | 'menu' | 'stats', HTMLElement>;
  private seeking = false;
  /** The rendition the viewer picked from the menu; null: Auto. */
  private chosen: { height: number; bitrate: number } | null = null;

  private readonly host: HTMLElement;
  private readonly root: ShadowRoot;
  private readonly video: HTMLVideoElement;
  private readonly player: PlayerControlsHost;
  private readonly statusLine: HTMLElement;

  constructor(host: HTMLElement, root: ShadowRoot, video: HTMLVideoElement, player: PlayerControlsHost, statusLine: HTMLElement) {
    this.host = host;
    this.root = root;
    this.video = video;
    this.player = player;
    this.statusLine = statusLine;
    const q = (s: string) => root.querySelector<HTMLElement>(s)!;
    this.el = {
      bar: q('.bar'), play: q('.play'), mute: q('.mute'), seek: q('.seek'), time: q('.time'), liveDot: q('.live-dot'), goLive: q('.golive'),
      quality: q('.quality'), qualityLabel: q('.quality-label'), statsToggle: q('.stats-toggle'), fullscreen: q('.fullscreen'), menu: q('.menu'), stats: q('.stats'),
    };
    this.el.play.addEventListener('click', () => this.togglePlay());
    this.el.mute.addEventListener('click', () => this.toggleMute());
    this.el.liveDot.addEventListener('click', () => this.goLive());
    this.el.goLive.addEventListener('click', () => this.goLive());
    this.el.quality.addEventListener('click', () => this.toggleMenu());
    this.el.statsToggle.addEventListener('click', () => this.toggleStats());
    this.el.fullscreen.addEventListener('click', () => void this.toggleFullscreen());
    const seek = this.el.seek as HTMLInputElement;
    seek.addEventListener('input', () => (this.seeking = true));
    seek.addEventListener('change', () => {
      this.seeking = false;
      this.video.currentTime = Number(seek.value);
    });
    video.addEventListener('click', () => this.togglePlay());
    video.addEventListener('dblclick', () => void this.toggleFullscreen());
    for (const e of ['play', 'pause', 'volumechange', 'timeupdate', 'seeked', 'durationchange']) video.addEventListener(e, () => this.render());
    video.addEventListener('playing', () => this.set(this.ended ? 'ended' : 'playing'));
    video.addEventListener('pause', () => this.state === 'playing' && this.set('paused'));
    video.addEventListener('waiting', () => (this.state === 'playing' || this.state === 'paused') && this.set('buffering'));
    video.addEventListener('ended', () => this.set('ended'));
    this.menuKeys();
    host.addEventListener('keydown', (e) => this.onKey(e));
    document.addEventListener('fullscreenchange', () => this.render());
    this.render();
  }

  /** The player's state and, for an error, offline or ended, the reason shown. */
  get current(): { state: PlayerState; reason: string } {
    return { state: this.state, reason: this.reason };
  }

  /** A state change from the player (castnet-player.ts) or the video. */
  set(state: PlayerState, reason = ''): void {
    if (state === 'starting') {
      this.ended = false;
      this.live = false;
    }
    this.state = state;
    this.reason = reason;
    this.host.dataset.state = state;
    const text: Record<PlayerState, string> = {
      offline: reason || 'The stream is offline. Waiting for it to go live…',
      starting: 'Starting…',
      playing: '',
      paused: '',
      buffering: 'Buffering…',
      ended: reason || (this.wasLive ? 'The stream has ended.' : ''),
      error: `Error: ${reason}`,
    };
    this.statusLine.textContent = text[state];
    this.statusLine.setAttribute('role', state === 'error' ? 'alert' : 'status');
    this.render();
    this.host.dispatchEvent(new CustomEvent('statechange', { detail: { state, reason } }));
  }

  /** The player was given another source: a VOD after a live stream is not that stream ending. */
  newSource(): void {
    this.wasLive = false;
    this.ended = false;
  }

  /** A media playlist (re)loaded: live, or with ENDLIST (a VOD, or a live stream that ended). */
  levelUpdated(live: boolean): void {
    if (live) this.wasLive = true;
    else if (this.wasLive) this.ended = true;
    this.live = live;
    this.render();
  }

  /** The level list is known or the level changed: rebuild the quality menu and the badge. */
  levelsChanged(): void {
    const hls = this.player.hls();
    const menu = this.el.menu;
    menu.replaceChildren();
    if (!hls) return;
    const auto = hls.autoLevelEnabled;
    const add = (label: string, level: number, checked: boolean) => {
      const li = document.createElement('li');
      li.setAttribute('role', 'menuitemradio');
      li.setAttribute('aria-checked', String(checked));
      li.tabIndex = -1;
      li.dataset.level = String(level);
      li.textContent = label;
      li.addEventListener('click', () => this.chooseLevel(level));
      menu.append(li);
    };
    const current = hls.levels[hls.currentLevel];
    add(`Auto${auto && current ? ` (${current.height}p)` : ''}`, -1, auto);
    hls.levels
      .map((l, i) => ({ l, i }))
      .sort((a, b) => b.l.height - a.l.height || b.l.bitrate - a.l.bitrate)
      .forEach(({ l, i }) => add(`${l.height}p · ${mbps(l.bitrate)}`, i, !auto && hls.currentLevel === i));
    this.el.qualityLabel.textContent = ` ${auto ? 'Auto' : current ? `${current.height}p` : ''}`;
    this.el.quality.setAttribute('aria-label', `Quality: ${auto ? 'auto' : ''}${current ? ` ${current.height}p` : ''}`);
  }

  start(): void {
    // Focusable for the keyboard shortcuts. Set here (connected), not in the constructor: an element made by
    // document.createElement('castnet-player') may not gain attributes while it is constructed (the DOM
    // refuses it: "The result must not have attributes"), which broke every page creating the player in script.
    if (!this.host.hasAttribute('tabindex')) this.host.tabIndex = 0;
    window.clearInterval(this.timer);
    this.timer = window.setInterval(() => this.render(), TICK_MS);
  }

  close(): void {
    window.clearInterval(this.timer);
  }

  /** Seconds behind the position hls.js syncs a live viewer to; 0 on VOD or at the edge. */
  get behind(): number {
    const hls = this.player.hls();
    const sync = hls?.liveSyncPosition;
    if (!this.live || sync === null || sync === undefined) return 0;
    return Math.max(0, sync - this.video.currentTime);
  }

  private get behindLimit(): number {
    const details = this.player.hls()?.latestLevelDetails;
    const tuning = this.player.tuning();
    if (tuning?.lowLatency && tuning.partTarget) return BEHIND_PART_TARGETS * tuning.partTarget;
    return BEHIND_TARGET_DURATIONS * (details?.targetduration ?? 2);
  }

  goLive(): void {
    const sync = this.player.hls()?.liveSyncPosition;
    if (sync === null || sync === undefined) return;
    this.video.currentTime = sync;
    void this.video.play().catch(() => {});
  }

  /** A new hls.js instance (a retry or a failover) keeps the rendition the viewer chose. */
  manifestParsed(): void {
    const hls = this.player.hls();
    const chosen = this.chosen;
    if (hls && chosen) {
      const i = hls.levels.findIndex((l) => l.height === chosen.height && l.bitrate === chosen.bitrate);
      if (i >= 0) hls.currentLevel = i;
    }
    this.levelsChanged();
  }

  chooseLevel(level: number): void {
    const hls = this.player.hls();
    if (!hls) return;
    const l = hls.levels[level];
    this.chosen = l ? { height: l.height, bitrate: l.bitrate } : null;
    // currentLevel switches now (flushing the buffer ahead); -1 hands the choice back to the ABR controller.
    hls.currentLevel = level;
    this.levelsChanged();
    this.closeMenu();
  }

  togglePlay(): void {
    if (this.video.paused || this.video.ended) void this.video.play().catch(() => {});
    else this.video.pause();
  }

  toggleMute(): void {
    this.video.muted = !this.video.muted;
  }

  toggleStats(): void {
    this.el.stats.hidden = !this.el.stats.hidden;
    this.el.statsToggle.setAttribute('aria-pressed', String(!this.el.stats.hidden));
    this.el.statsToggle.setAttribute('aria-label', this.el.stats.hidden ? 'Show statistics' : 'Hide statistics');
    this.render();
  }

  async toggleFullscreen(): Promise<void> {
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else await this.host.requestFullscreen();
    } catch {
      // Not allowed here (an iframe without allowfullscreen): the button stays, nothing happens.
    }
  }

  /** Seconds it can seek to now: hls.js's seekable range (the live window, or the whole VOD). */
  private seekable(): { start: number; end: number } | null {
    const r = this.video.seekable;
    if (!r.length) return null;
    const start = r.start(0);
    const end = r.end(r.length - 1);
    return end > start ? { start, end } : null;
  }

  seekBy(seconds: number): void {
    const range = this.seekable();
    if (!range) return;
    this.video.currentTime = Math.min(range.end, Math.max(range.start, this.video.currentTime + seconds));
  }

  private toggleMenu(): void {
    if (this.el.menu.hidden) {
      this.levelsChanged();
      this.el.menu.hidden = false;
      this.el.quality.setAttribute('aria-expanded', 'true');
      (this.el.menu.querySelector('[aria-checked=true]') as HTMLElement | null)?.focus();
    } else this.closeMenu();
  }

  private closeMenu(): void {
    if (this.el.menu.hidden) return;
    this.el.menu.hidden = true;
    this.el.quality.setAttribute('aria-expanded', 'false');
    this.el.quality.focus();
  }

  private menuKeys(): void {
    this.el.menu.addEventListener('keydown', (e) => {
      const items = [...this.el.menu.querySelectorAll<HTMLElement>('li')];
      const at = items.indexOf(this.root.activeElement as HTMLElement);
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') items[(at + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length]?.focus();
      else if (e.key === 'Enter' || e.key === ' ') items[at]?.click();
      else if (e.key === 'Escape' || e.key === 'Tab') this.closeMenu();
      else return;
      e.preventDefault();
      e.stopPropagation();
    });
  }

  private onKey(e: KeyboardEvent): void {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.composedPath()[0] as HTMLElement;
    const onButton = target instanceof HTMLButtonElement;
    const onRange = target instanceof HTMLInputElement;
    switch (e.key) {
      case ' ':
        if (onButton || onRange) return;
        this.togglePlay();
        break;
      case 'k':
        this.togglePlay();
        break;
      case 'm':
        this.toggleMute();
        break;
      case 'f':
        void this.toggleFullscreen();
        break;
      case 'i':
        this.toggleStats();
        break;
      case 'ArrowLeft':
      case 'ArrowRight':
        if (onRange) return;
        this.seekBy(e.key === 'ArrowLeft' ? -SEEK_STEP_S : SEEK_STEP_S);
        break;
      case 'Escape':
        this.closeMenu();
        break;
      default:
        return;
    }
    e.preventDefault();
  }

  /** Brings every control in line with the video and hls.js; runs on media events and every TICK_MS. */
  private render(): void {
    const v = this.video;
    const playing = !v.paused && !v.ended;
    setIcon(this.el.play, playing ? 'pause' : 'play');
    this.el.play.setAttribute('aria-label', playing ? 'Pause' : 'Play');
    setIcon(this.el.mute, v.muted || v.volume === 0 ? 'muted' : 'sound');
    this.el.mute.setAttribute('aria-label', v.muted ? 'Unmute' : 'Mute');
    setIcon(this.el.fullscreen, document.fullscreenElement ? 'exitFullscreen' : 'fullscreen');
    this.el.fullscreen.setAttribute('aria-label', document.fullscreenElement ? 'Exit full screen' : 'Full screen');
    const seek = this.el.seek as HTMLInputElement;
    const range = this.seekable();
    seek.disabled = !range;
    if (range) {
      seek.min = String(range.start);
      seek.max = String(range.end);
      if (!this.seeking) seek.value = String(v.currentTime);
      seek.setAttribute('aria-valuetext', this.live ? `${clock(this.behind)} behind live` : `${clock(v.currentTime)} of ${clock(range.end)}`);
    }
    const behind = this.behind;
    this.el.time.textContent = this.live ? (behind > this.behindLimit ? `-${clock(behind)}` : '') : range || Number.isFinite(v.duration) ? `${clock(v.currentTime)} / ${clock(Number.isFinite(v.duration) ? v.duration : (range?.end ?? 0))}` : '';
    const near = behind <= this.behindLimit;
    const atEdge = this.live && near && !v.paused;
    this.el.liveDot.hidden = !this.live;
    this.el.liveDot.classList.toggle('edge', atEdge);
    this.el.liveDot.setAttribute('aria-label', atEdge ? 'Live, at the live edge' : 'Live, behind: go to the live edge');
    this.el.goLive.hidden = !this.live || near;
    if (!this.el.stats.hidden) this.renderStats();
  }

  private renderStats(): void {
    const hls = this.player.hls();
    const v = this.video;
    const level = hls && hls.currentLevel >= 0 ? hls.levels[hls.currentLevel] : undefined;
    let buffer = 0;
    for (let i = 0; i < v.buffered.length; i++) if (v.buffered.start(i) <= v.currentTime + 0.1 && v.buffered.end(i) >= v.currentTime) buffer = v.buffered.end(i) - v.currentTime;
    const ver = this.player.verification();
    const rec = this.player.delivery();
    const tuning = this.player.tuning();
    const latency = hls && this.live ? hls.latency : NaN;
    const quality = v.getVideoPlaybackQuality?.();
    const rows: Array<[string, string, string]> = [
      ['rendition', 'Rendition', level ? `${level.height}p · ${mbps(level.bitrate)}${hls!.autoLevelEnabled ? ' (auto)' : ''}` : '–'],
      ['bandwidth', 'Bandwidth', hls ? mbps(hls.bandwidthEstimate) : '–'],
      ['buffer', 'Buffer', `${buffer.toFixed(1)} s`],
      ['latency', 'Latency', Number.isFinite(latency) ? `${latency.toFixed(1)} s${tuning?.lowLatency ? ` (LL, target ${tuning.targetLatency?.toFixed(1)} s)` : ''}` : this.live ? '–' : 'VOD'],
      ['rate', 'Speed', `${v.playbackRate.toFixed(2)}×`],
      ['relay', 'Relay', this.player.relay() ? new URL(this.player.relay()!).host : '–'],
      ['verification', 'Verified', ver ? `${ver.verified} ok · ${ver.refused} refused${ver.publisherSource ? ` (${ver.publisherSource})` : ''}` : '–'],
      ['receipts', 'Receipts', rec?.enabled ? `${rec.signatures} signed · ${rec.refused} refused` : 'off'],
      ['frames', 'Frames', quality ? `${quality.totalVideoFrames} · ${quality.droppedVideoFrames} dropped` : '–'],
      ['state', 'State', this.state],
    ];
    const dl = this.el.stats;
    if (dl.childElementCount !== rows.length * 2) {
      dl.replaceChildren(...rows.flatMap(([key, label]) => {
        const dt = document.createElement('dt');
        dt.textContent = label;
        const dd = document.createElement('dd');
        dd.dataset.stat = key;
        return [dt, dd];
      }));
    }
    for (const [key, , value] of rows) dl.querySelector(`[data-stat=${key}]`)!.textContent = value;
  }
}
