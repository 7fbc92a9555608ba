// <castnet-player src="…/master.m3u8">: the embeddable live player. hls.js plays the multivariant playlist
// and adapts bitrate; a stream that is not live yet, or a network failure, is retried until it plays.
// This file runs in the browser; player/bundle.ts builds it with esbuild.

import Hls, { type ErrorData } from 'hls.js';

const RETRY_MS = 2_000;

const style = `
:host { display: block; position: relative; background: #000; aspect-ratio: 16 / 9; color: #fff; font: 14px system-ui, sans-serif; }
video { width: 100%; height: 100%; display: block; background: #000; }
.badge { position: absolute; top: 8px; left: 8px; padding: 2px 8px; border-radius: 4px; background: rgba(0,0,0,.6); pointer-events: none; }
.badge.live { background: #c62828; }
.status { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center; pointer-events: none; text-shadow: 0 1px 2px #000; }
.status:empty { display: none; }
`;

export class CastnetPlayer extends HTMLElement {
  static observedAttributes = ['src'];
  readonly video: HTMLVideoElement;
  /** Fatal errors seen, newest last (for pages and tests that watch the player). */
  readonly errors: string[] = [];
  private hls: Hls | null = null;
  private retryTimer: number | undefined;
  private readonly badge: HTMLElement;
  private readonly statusLine: HTMLElement;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${style}</style><video playsinline muted autoplay controls></video><div class="badge">…</div><div class="status"></div>`;
    this.video = root.querySelector('video')!;
    this.badge = root.querySelector('.badge')!;
    this.statusLine = root.querySelector('.status')!;
  }

  connectedCallback(): void {
    this.load();
  }

  disconnectedCallback(): void {
    this.teardown();
  }

  attributeChangedCallback(): void {
    if (this.isConnected) this.load();
  }

  /** The rendition playing now, e.g. "720p". */
  get rendition(): string | null {
    if (!this.hls || this.hls.currentLevel < 0) return null;
    const level = this.hls.levels[this.hls.currentLevel];
    return level ? `${level.height}p` : null;
  }

  private setStatus(text: string): void {
    this.statusLine.textContent = text;
  }

  private teardown(): void {
    window.clearTimeout(this.retryTimer);
    this.hls?.destroy();
    this.hls = null;
  }

  private retry(reason: string): void {
    this.teardown();
    this.setStatus(reason);
    this.retryTimer = window.setTimeout(() => this.load(), RETRY_MS);
  }

  load(): void {
    const src = this.getAttribute('src');
    this.teardown();
    if (!src) return;
    if (!Hls.isSupported()) {
      // Safari and iOS play HLS natively.
      if (this.video.canPlayType('application/vnd.apple.mpegurl')) this.video.src = src;
      else this.setStatus('This browser cannot play HLS.');
      return;
    }
    this.setStatus('Connecting…');
    const hls = new Hls({ liveSyncDurationCount: 3, enableWorker: true, backBufferLength: 30 });
    this.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      this.setStatus('');
      this.video.play().catch(() => this.setStatus('Press play'));
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, () => {
      this.badge.textContent = `LIVE · ${this.rendition ?? ''}`;
      this.badge.classList.add('live');
      this.dispatchEvent(new CustomEvent('renditionchange', { detail: { rendition: this.rendition } }));
    });
    hls.on(Hls.Events.ERROR, (_event, data: ErrorData) => {
      if (!data.fatal) return;
      if (data.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR && data.response?.code === 404) {
        // Not an error: the stream is not live (yet, or any more) on this relay.
        this.retry('Waiting for the stream to go live…');
        return;
      }
      this.errors.push(`${data.type}: ${data.details}`);
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
      } else {
        this.retry('Reconnecting…');
      }
    });
    hls.loadSource(src);
    hls.attachMedia(this.video);
  }
}

if (!customElements.get('castnet-player')) customElements.define('castnet-player', CastnetPlayer);
