// <castnet-player src="…/master.m3u8" relays="…/api/streams/<id>/relays" directory="…/api/streams/<id>">:
// the embeddable live player. hls.js plays the multivariant playlist and adapts bitrate; a stream that is
// not live yet is retried until it plays; when the relay fails, the player asks the orchestrator (the
// `relays` URL) which relays hold the stream and switches to another one, keeping the same HLS path (URLs
// are the same on every relay). Every segment is checked before hls.js sees a byte of it: signed by the
// publisher key the directory binds to the stream (segment-verifier.ts), or refused as a load error, which
// hls.js retries and then fails over from. The badge says so. A signed stream's token (`token="…"`, or
// the page's `?token=` with `token-from-url`) rides on every request as a `token` query parameter, which
// needs no CORS preflight (an Authorization header would cost one per segment URL). The controls (quality,
// live edge, stats, keyboard, states) are player-controls.ts; the live latency settings are
// latency-tuning.ts. This file runs in the browser; player/bundle.ts builds it with esbuild.

import Hls, { type ErrorData, type FragmentLoaderContext, type HlsConfig, type Loader, type LoaderCallbacks, type LoaderConfiguration } from 'hls.js';
import { directoryPublisher, SegmentVerifier, type VerificationState } from './segment-verifier.ts';
import { DeliveryReceipts, directoryTerms, type ReceiptsState } from './receipts.ts';
import { controlsHtml, controlsStyle, PlayerControls, type PlayerState } from './player-controls.ts';
import { latencyTuningLoader, startAtTarget, type LatencyTuning } from './latency-tuning.ts';

const RETRY_MS = 2_000;
/** A missing thumbnail is asked for again this often, this many times (the origin makes one about every 10 s). */
const POSTER_RETRY_MS = 5_000;
const POSTER_RETRIES = 12;
// Give up on a relay after one quick retry, so failover happens within about a segment.
const QUICK_RETRY = { maxNumRetry: 1, retryDelayMs: 250, maxRetryDelayMs: 500 };
const loadPolicy = (ttfb: number, load: number) => ({ default: { maxTimeToFirstByteMs: ttfb, maxLoadTimeMs: load, timeoutRetry: QUICK_RETRY, errorRetry: QUICK_RETRY } });

const style = `
:host { display: block; position: relative; background: #000; aspect-ratio: 16 / 9; color: #fff; font: 14px system-ui, sans-serif; }
video { width: 100%; height: 100%; display: block; background: #000; }
.status { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center; padding: 0 12px; text-align: center; pointer-events: none; text-shadow: 0 1px 2px #000; }
.status:empty { display: none; }
.verified { position: absolute; top: 8px; right: 8px; padding: 2px 8px; border-radius: 4px; background: rgba(0,0,0,.6); pointer-events: none; font-size: 12px; }
.verified:empty { display: none; }
.verified.ok { background: rgba(27,94,32,.85); }
.verified.bad { background: rgba(183,28,28,.85); }
`;

/**
 * hls.js's fragment loader, with every segment checked before it is handed on: a segment that fails is
 * reported as a load error (hls.js retries it, then switches relay), never parsed or played. Paid
 * delivery: a receipt due for the segment's relay rides on the request (receipts.ts), and the relay's
 * answer is read from the response.
 */
function verifyingLoader(verifier: () => SegmentVerifier, onChecked: () => void, onDelivered: (url: string, bytes: number) => void = () => {}, receipts: () => DeliveryReceipts | null = () => null): new (config: HlsConfig) => Loader<FragmentLoaderContext> {
  const Base = Hls.DefaultConfig.loader as unknown as new (config: HlsConfig) => Loader<FragmentLoaderContext>;
  return class VerifyingLoader extends Base {
    override load(context: FragmentLoaderContext, config: LoaderConfiguration, callbacks: LoaderCallbacks<FragmentLoaderContext>): void {
      const r = receipts();
      const url = r ? r.attach(context.url) : context.url;
      const withReceipt = url !== context.url;
      if (withReceipt) context = { ...context, url };
      const answered = (networkDetails: unknown) => {
        if (withReceipt) r!.answered(url, (h) => (networkDetails as XMLHttpRequest | null)?.getResponseHeader?.(h) ?? null);
      };
      const checked: LoaderCallbacks<FragmentLoaderContext> = {
        ...callbacks,
        onError: (error, ctx, networkDetails, stats) => {
          answered(networkDetails);
          callbacks.onError(error, ctx, networkDetails, stats);
        },
        onTimeout: (stats, ctx, networkDetails) => {
          answered(networkDetails);
          callbacks.onTimeout(stats, ctx, networkDetails);
        },
        onSuccess: (response, stats, ctx, networkDetails) => {
          answered(networkDetails);
          const xhr = networkDetails as XMLHttpRequest | null;
          const data = response.data;
          if (!(data instanceof ArrayBuffer) || !xhr) {
            callbacks.onError({ code: 0, text: 'segment not checkable' }, ctx, networkDetails, stats);
            return;
          }
          void verifier()
            .verify(response.url || ctx.url, data, (h) => xhr.getResponseHeader(h), ctx.frag, ctx.part)
            .then((reason) => {
              onChecked();
              if (stats.aborted) return;
              if (reason === null) {
                onDelivered(response.url || ctx.url, data.byteLength);
                callbacks.onSuccess(response, stats, ctx, networkDetails);
              }
              else callbacks.onError({ code: 0, text: `segment refused: ${reason}` }, ctx, networkDetails, stats);
            });
        },
      };
      super.load(context, config, checked);
    }
  };
}

/** `url` with the `token` query parameter set (kept beside hls.js's own, e.g. _HLS_msn). */
function withToken(url: string, token: string): string {
  const u = new URL(url, location.href);
  u.searchParams.set('token', token);
  return u.href;
}

export class CastnetPlayer extends HTMLElement {
  static observedAttributes = ['src', 'relays', 'directory', 'publisher', 'token', 'poster'];
  readonly video: HTMLVideoElement;
  /** Fatal errors seen, newest last (for pages and tests that watch the player). */
  readonly errors: string[] = [];
  /** Relays this player switched away from, with the reason, oldest first. */
  readonly failovers: Array<{ from: string; to: string; reason: string }> = [];
  /** Low latency: how far the start jump moved the playhead forward (latency-tuning.ts), per load; null: none. */
  startJump: number | null = null;
  private activeSrc: string | null = null;
  private hls: Hls | null = null;
  private retryTimer: number | undefined;
  private readonly controls: PlayerControls;
  private latency: LatencyTuning | null = null;
  private readonly statusLine: HTMLElement;
  private readonly shield: HTMLElement;
  private verifier: SegmentVerifier | null = null;
  // Paid delivery (receipts.ts): one session per source, kept across failovers.
  private receipts: DeliveryReceipts | null = null;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${style}${controlsStyle}</style><video playsinline muted autoplay></video><div class="verified"></div><div class="status" role="status"></div>${controlsHtml}`;
    this.video = root.querySelector('video')!;
    this.statusLine = root.querySelector('.status')!;
    this.shield = root.querySelector('.verified')!;
    this.controls = new PlayerControls(this, root, this.video, {
      hls: () => this.hls,
      relay: () => this.relay,
      verification: () => this.verification,
      delivery: () => this.delivery,
      tuning: () => this.latency,
    }, this.statusLine);
    // The last receipts go out when the page goes.
    window.addEventListener('pagehide', () => void this.receipts?.close());
  }

  connectedCallback(): void {
    this.controls.start();
    this.load();
  }

  disconnectedCallback(): void {
    this.controls.close();
    this.teardown();
    void this.receipts?.close();
  }

  /** Paid delivery: the viewer session, receipts signed and their cost, bytes per relay. */
  get delivery(): ReceiptsState | null {
    return this.receipts?.state ?? null;
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

  /** offline, starting, playing, paused, buffering, ended or error, with the reason shown. */
  get state(): { state: PlayerState; reason: string } {
    return this.controls.current;
  }

  /** The hls.js instance playing now (tests and pages read its levels, latency and config). */
  get engine(): Hls | null {
    return this.hls;
  }

  /** The controls: quality, live edge, stats, fullscreen (player-controls.ts). */
  get ui(): PlayerControls {
    return this.controls;
  }

  /** What the live latency settings are, from the first media playlist (latency-tuning.ts). */
  get tuning(): LatencyTuning | null {
    return this.latency;
  }

  /** What the player checked: the publisher key and where it came from, segments verified and refused, and the cost. */
  get verification(): VerificationState | null {
    return this.verifier?.state ?? null;
  }

  /** A new verifier per source: the publisher key comes from the `publisher` attribute, else the directory, else the first signer. */
  private newVerifier(): SegmentVerifier {
    const publisher = this.getAttribute('publisher');
    const directory = this.getAttribute('directory');
    const key = publisher ? Promise.resolve({ address: publisher, source: 'attribute' as const }) : directory ? directoryPublisher(directory) : null;
    return new SegmentVerifier(key);
  }

  private showVerification(): void {
    const s = this.verifier?.state;
    if (!s) return;
    const short = s.publisher ? `${s.publisher.slice(0, 6)}…${s.publisher.slice(-4)}` : '';
    const bad = s.refused > 0 && s.refusals.at(-1);
    this.shield.className = `verified ${bad ? 'bad' : 'ok'}`;
    this.shield.textContent = `✓ ${s.verified} signed by ${short}${s.publisherSource === 'first-segment' ? ' (key unchecked)' : ''}${s.refused ? ` · ${s.refused} refused` : ''}`;
    this.shield.title = bad ? `last refused: ${bad.reason} ${bad.url}` : `every segment played was signed by the stream's publisher key (${s.publisherSource})`;
  }

  private setStatus(state: PlayerState, reason = ''): void {
    this.controls.set(state, reason);
  }

  /** The poster: the `poster` attribute, else the stream's thumbnail beside its playlist if there is one. */
  private showPoster(src: string): void {
    const given = this.getAttribute('poster');
    if (given !== null) {
      this.video.poster = given;
      return;
    }
    this.video.removeAttribute('poster');
    const bare = new URL('thumbnail.jpg', new URL(src, location.href)).href;
    // A signed stream's thumbnail needs the token like its playlists.
    const token = this.token;
    const url = token ? withToken(bare, token) : bare;
    // A 404 only means the relay has no thumbnail yet (it makes one about every 10 s): no poster, ask again.
    const attempt = (left: number) => {
      const probe = new Image();
      probe.onload = () => this.activeSrc === src && (this.video.poster = url);
      probe.onerror = () => left > 0 && this.activeSrc === src && window.setTimeout(() => this.activeSrc === src && !this.video.poster && attempt(left - 1), POSTER_RETRY_MS);
      probe.src = url;
    };
    attempt(POSTER_RETRIES);
  }

  /** Whether the orchestrator's directory says the stream ended (not merely not live yet). */
  private async directoryEnded(): Promise<boolean> {
    const directory = this.getAttribute('directory');
    if (!directory) return false;
    try {
      const res = await fetch(directory, { cache: 'no-store' });
      return res.ok && ((await res.json()) as { state?: string }).state === 'ended';
    } catch {
      return false;
    }
  }

  /** Signed playback: the viewer's token, from the attribute, else (with `token-from-url`) the page's `?token=`. */
  get token(): string | null {
    return this.getAttribute('token') || (this.hasAttribute('token-from-url') ? new URLSearchParams(location.search).get('token') : null) || null;
  }

  /** The relay serving the player now (origin of the playlist URL). */
  get relay(): string | null {
    return this.activeSrc ? new URL(this.activeSrc, location.href).origin : null;
  }

  /** Asks the orchestrator which relays hold the stream and moves to another one; false if there is none. */
  private async failover(reason: string): Promise<boolean> {
    const listUrl = this.getAttribute('relays');
    if (!listUrl || !this.activeSrc) return false;
    try {
      const relays = (await (await fetch(listUrl, { cache: 'no-store' })).json()) as string[];
      const current = this.relay;
      const next = relays.find((r) => new URL(r).origin !== current);
      if (!next) return false;
      const path = new URL(this.activeSrc, location.href).pathname;
      this.failovers.push({ from: current ?? '', to: new URL(next).origin, reason });
      this.load(`${new URL(next).origin}${path}`);
      return true;
    } catch {
      return false;
    }
  }

  private teardown(): void {
    window.clearTimeout(this.retryTimer);
    this.hls?.destroy();
    this.hls = null;
  }

  private retry(state: PlayerState, reason: string): void {
    this.teardown();
    this.setStatus(state, reason);
    const src = this.activeSrc ?? undefined;
    this.retryTimer = window.setTimeout(() => this.load(src), RETRY_MS);
  }

  load(override?: string): void {
    const src = override ?? this.getAttribute('src');
    this.teardown();
    if (!src) return;
    this.activeSrc = src;
    if (!Hls.isSupported()) {
      // Safari and iOS play HLS natively.
      if (this.video.canPlayType('application/vnd.apple.mpegurl')) this.video.src = src;
      else this.setStatus('error', 'this browser cannot play HLS');
      return;
    }
    // A new source (not a failover or retry of this one): whether it was live says nothing of the next.
    if (!override) this.controls.newSource();
    this.setStatus('starting');
    if (!override) this.showPoster(src);
    // A failover keeps the verifier (same stream, same key, the counts go on); a new source starts afresh.
    if (!override || !this.verifier || this.verifier.failed) this.verifier = this.newVerifier();
    if (!override) {
      void this.receipts?.close();
      const playbackId = /\/hls\/([A-Za-z0-9_-]{1,64})\//.exec(new URL(src, location.href).pathname)?.[1];
      const directory = this.getAttribute('directory');
      const token = this.token;
      this.receipts = playbackId && directory ? new DeliveryReceipts({ playbackId, terms: directoryTerms(directory).catch(() => null), ...(token ? { token } : {}) }) : null;
    }
    const token = this.token;
    const hls = new Hls({
      // Every playlist, segment and part request carries the token (hls.js opens the request itself when we do not).
      ...(token ? { xhrSetup: (xhr: XMLHttpRequest, url: string) => xhr.open('GET', withToken(url, token), true) } : {}),
      pLoader: latencyTuningLoader((tuning) => (this.latency = tuning)),
      // Off until the first media playlist says (latency-tuning.ts): parts, or blocking reload.
      lowLatencyMode: false,
      fLoader: verifyingLoader(() => this.verifier!, () => this.showVerification(), (url, bytes) => this.receipts?.delivered(url, bytes), () => this.receipts),
      liveSyncDurationCount: 3,
      enableWorker: true,
      backBufferLength: 30,
      manifestLoadPolicy: loadPolicy(5_000, 10_000),
      playlistLoadPolicy: loadPolicy(8_000, 10_000),
      fragLoadPolicy: loadPolicy(5_000, 20_000),
    });
    this.hls = hls;
    // A low-latency start that lands behind its target moves to it once (latency-tuning.ts: startAtTarget).
    let firstFrameAt: number | null = null;
    let jumpDone = false;
    this.startJump = null;
    hls.on(Hls.Events.FRAG_BUFFERED, () => {
      if (jumpDone) return;
      const now = performance.now();
      if (firstFrameAt === null && !this.video.paused && this.video.currentTime > 0) firstFrameAt = now;
      const from = this.video.currentTime;
      if (startAtTarget(hls, this.video, this.latency, firstFrameAt, now)) {
        jumpDone = true;
        this.startJump = this.video.currentTime - from;
      } else if (firstFrameAt !== null && now - firstFrameAt > 10_000) jumpDone = true;
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      this.controls.manifestParsed();
      this.video.play().catch(() => this.setStatus('paused', 'Press play'));
    });
    const levelUpdated = (_e: unknown, data: { details: { live: boolean } }) => this.controls.levelUpdated(data.details.live);
    hls.on(Hls.Events.LEVEL_LOADED, levelUpdated);
    hls.on(Hls.Events.LEVEL_UPDATED, levelUpdated);
    hls.on(Hls.Events.LEVEL_SWITCHED, () => {
      this.controls.levelsChanged();
      this.dispatchEvent(new CustomEvent('renditionchange', { detail: { rendition: this.rendition } }));
    });
    hls.on(Hls.Events.ERROR, (_event, data: ErrorData) => {
      if (!data.fatal) return;
      if (data.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR && data.response?.code === 404) {
        // Not an error: the stream is not live (yet, or any more) on this relay.
        void this.directoryEnded().then((ended) => (ended ? this.retry('ended', 'The stream has ended.') : this.retry('offline', '')));
        return;
      }
      const status = data.response?.code;
      if (status === 401 || status === 403) {
        // Every relay answers the same to this token: no failover, no retry loop; the page must bring a new token.
        const reason = /"reason":"([a-z_]+)"/.exec(String(data.response?.data ?? ''))?.[1] ?? (status === 401 ? 'token_missing' : 'token_invalid');
        this.errors.push(`unauthorized: ${reason}`);
        this.teardown();
        this.setStatus('error', reason === 'token_expired' ? 'Your viewing token has expired.' : 'This stream needs a valid viewing token.');
        this.dispatchEvent(new CustomEvent('unauthorized', { detail: { reason } }));
        return;
      }
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        this.errors.push(`${data.type}: ${data.details}`);
        hls.recoverMediaError();
        return;
      }
      // A network failure: another relay if the orchestrator knows one, else this one again shortly.
      void this.failover(`${data.type}: ${data.details}`).then((moved) => {
        if (!moved) {
          this.errors.push(`${data.type}: ${data.details}`);
          this.retry('error', `${data.details} — reconnecting…`);
        }
      });
    });
    hls.loadSource(src);
    hls.attachMedia(this.video);
  }
}

if (!customElements.get('castnet-player')) customElements.define('castnet-player', CastnetPlayer);
