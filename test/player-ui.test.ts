// The player's controls in real Chromium on a real network (FFmpeg over RTMP, broadcaster, transcoder,
// relay, orchestrator): offline until the stream is published, then playing; the quality menu switching
// rendition; the stats overlay; the keyboard; "Go live" after pausing or rewinding; a phone-width layout;
// the iframe embed; the poster; the ended state once the publisher stops; and the latency settings chosen
// from the playlist (parts or not). Screenshots go to test/artifacts/player-ui/ (not in git).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, samplePlayer } from './support/browser.ts';
import { getText, publish, startNetwork, stopAll, waitFor, type Publisher, type TestNetwork } from './support/network.ts';

const ARTIFACTS = 'test/artifacts/player-ui';
const STREAM_KEY = 'player-ui';

interface UiSample {
  state: string;
  reason: string;
  status: string;
  currentTime: number;
  paused: boolean;
  muted: boolean;
  videoHeight: number;
  seekable: [number, number] | null;
  liveSync: number | null;
  currentLevel: number;
  autoLevel: boolean;
  levels: Array<{ height: number; url: string }>;
  behind: number;
  goLiveHidden: boolean;
  liveEdge: boolean;
  liveHidden: boolean;
  poster: string;
  fullscreen: boolean;
  tuning: { lowLatency: boolean; partTarget: number | null; targetLatency: number | null } | null;
  config: { lowLatencyMode: boolean; maxLiveSyncPlaybackRate: number; liveSyncDuration: number | undefined } | null;
  stats: Record<string, string> | null;
}

const sampleUi = `(() => {
  const el = document.querySelector('castnet-player');
  if (!el || !el.video) return null;
  const v = el.video, hls = el.engine, root = el.shadowRoot;
  const stats = root.querySelector('.stats');
  return {
    ...el.state,
    status: root.querySelector('.status').textContent,
    currentTime: v.currentTime, paused: v.paused, muted: v.muted, videoHeight: v.videoHeight,
    seekable: v.seekable.length ? [v.seekable.start(0), v.seekable.end(v.seekable.length - 1)] : null,
    liveSync: hls ? hls.liveSyncPosition : null,
    currentLevel: hls ? hls.currentLevel : -2, autoLevel: hls ? hls.autoLevelEnabled : false,
    levels: hls ? hls.levels.map((l) => ({ height: l.height, url: l.url[0] })) : [],
    behind: el.ui.behind,
    goLiveHidden: root.querySelector('.golive').hidden,
    liveEdge: root.querySelector('.live-dot').classList.contains('edge'),
    liveHidden: root.querySelector('.live-dot').hidden,
    poster: v.poster,
    fullscreen: document.fullscreenElement === el,
    tuning: el.tuning,
    config: hls ? { lowLatencyMode: hls.config.lowLatencyMode, maxLiveSyncPlaybackRate: hls.config.maxLiveSyncPlaybackRate, liveSyncDuration: hls.config.liveSyncDuration } : null,
    stats: stats.hidden ? null : Object.fromEntries([...stats.querySelectorAll('dd')].map((d) => [d.dataset.stat, d.textContent])),
  };
})()`;

const ui = async (page: Page) => (await page.evaluate(sampleUi)) as UiSample;
/** Polls the player until `check` answers something (not null, undefined or false), within a deadline. */
const until = <T>(page: Page, what: string, check: (s: UiSample) => T | null | undefined | false, timeoutMs = 20_000): Promise<T> =>
  waitFor(what, async () => {
    const s = await ui(page).catch(() => null);
    return (s ? check(s) : undefined) ?? undefined;
  }, timeoutMs, 100);

describe('the player UI in Chromium', () => {
  let net: TestNetwork | undefined;
  const publishers: Publisher[] = [];
  let browser: Browser;
  let page: Page;
  let playbackId: string;
  let watchUrl: string;
  const pageErrors: string[] = [];
  const segmentRequests: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // Source 360p and one cheap rung, so the quality menu has two heights to switch between.
    net = await startNetwork({ reconnectGraceMs: 3_000, ladder: [{ height: 240, fps: 30, videoBitrate: 300_000, audioBitrate: 64_000 }] });
    net.broadcaster.keys.add(STREAM_KEY);
    playbackId = net.broadcaster.keys.resolve(STREAM_KEY)!;
    watchUrl = `${net.relay.url}/watch/${playbackId}`;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 960, height: 700 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('request', (r) => r.url().endsWith('.ts') && segmentRequests.push(r.url()));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stopAll(publishers, net);
  });

  it('says the stream is offline before it is published, then starts and plays once it is', async () => {
    await page.goto(watchUrl);
    const offline = await until(page, 'the offline state', (s) => s.state === 'offline' && s);
    assert.match(offline.status, /offline/i);
    publishers.push(publish(`${net!.broadcaster.rtmpUrl}/${STREAM_KEY}`));
    const playing = await until(page, 'playback', (s) => s.state === 'playing' && s.currentTime > 1 && s, 60_000);
    assert.equal(playing.status, '');
    assert.equal(playing.liveHidden, false, 'a live stream shows the LIVE indicator');
    await until(page, 'the LIVE indicator at the edge', (s) => s.liveEdge && s.goLiveHidden);
    assert.deepEqual(pageErrors, []);
    await page.screenshot({ path: `${ARTIFACTS}/watch-playing.png` });
  }, 90_000);

  it('keeps segment latency settings without parts: no catch-up rate, blocking reload as the playlist offers', async () => {
    const s = await until(page, 'the latency tuning', (x) => x.tuning && x);
    assert.deepEqual(s.tuning, { lowLatency: false, partTarget: null, targetLatency: null });
    assert.equal(s.config!.maxLiveSyncPlaybackRate, 1);
    assert.equal(s.config!.liveSyncDuration, undefined);
    const playlist = (await getText(`${net!.relay.url}/hls/${playbackId}/source/index.m3u8`)).text;
    assert.equal(s.config!.lowLatencyMode, playlist.includes('CAN-BLOCK-RELOAD=YES'));
  });

  it('switches rendition from the quality menu: hls.js level, variant URL and video height change, and Auto hands it back', async () => {
    // A master playlist lists a rendition once it has a segment, and hls.js never reloads the master: a viewer
    // who came before the 240p rung existed reloads the page to get it (issue 12 fixes this on the relay).
    await waitFor('both variants in the master playlist', async () => ((await getText(`${net!.relay.url}/hls/${playbackId}/master.m3u8`)).text.match(/#EXT-X-STREAM-INF/g) ?? []).length === 2, 30_000);
    if ((await ui(page)).levels.length < 2) {
      await page.reload();
      await until(page, 'playback after the reload', (s) => s.state === 'playing' && s.currentTime > 0.5, 30_000);
    }
    const before = await until(page, 'two levels', (s) => s.levels.length === 2 && s);
    const low = before.levels.findIndex((l) => l.height === 240);
    assert.ok(low >= 0, JSON.stringify(before.levels));
    await page.locator('castnet-player .quality').click();
    const item = page.locator('castnet-player .menu li', { hasText: '240p' });
    await item.waitFor({ state: 'visible' });
    assert.equal(await page.locator('castnet-player .menu li').count(), 3, 'Auto and one item per rendition');
    await page.screenshot({ path: `${ARTIFACTS}/quality-menu.png` });
    const requestsBefore = segmentRequests.length;
    await item.click();
    await until(page, 'the 240p level playing', (s) => s.currentLevel === low && !s.autoLevel && s.videoHeight === 240 && s.state === 'playing', 45_000).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify({ ...(await ui(page)), levels: undefined })} ${JSON.stringify(await page.evaluate(samplePlayer))}`);
    });
    const variantUrl = new URL(before.levels[low]!.url).pathname.replace(/index\.m3u8$/, '');
    await waitFor('a 240p segment loaded', () => segmentRequests.slice(requestsBefore).some((u) => new URL(u).pathname.startsWith(variantUrl)), 10_000, 100);
    assert.match(await page.locator('castnet-player .quality').getAttribute('aria-label') ?? '', /240p/);
    await page.locator('castnet-player .quality').click();
    await page.locator('castnet-player .menu li', { hasText: 'Auto' }).click();
    await until(page, 'auto level selection', (s) => s.autoLevel && s.state === 'playing');
  }, 60_000);

  it('shows rendition, bandwidth, buffer, latency, relay, verification and receipts in the stats overlay, toggled by i and by its button', async () => {
    await page.locator('castnet-player').focus();
    await page.keyboard.press('i');
    const s = await until(page, 'stats with numbers', (x) => x.stats && /\d+ ok/.test(x.stats.verification ?? '') && /\d\.\d s/.test(x.stats.latency ?? '') && /p · /.test(x.stats.rendition ?? '') && x);
    const stats = s.stats!;
    assert.match(stats.rendition!, /^(360|240)p · \d+/);
    assert.match(stats.bandwidth!, /^\d+(\.\d)? (k|M)bps$/);
    assert.match(stats.buffer!, /^\d+\.\d s$/);
    assert.equal(stats.relay, new URL(net!.relay.url).host);
    assert.match(stats.verification!, /^[1-9]\d* ok · \d+ refused \(directory\)$/);
    assert.ok(stats.receipts, 'the receipts row is there');
    await page.screenshot({ path: `${ARTIFACTS}/stats-overlay.png` });
    await page.keyboard.press('i');
    await until(page, 'stats hidden', (x) => x.stats === null);
    await page.locator('castnet-player .stats-toggle').click();
    await until(page, 'stats shown by the button', (x) => x.stats !== null);
    await page.locator('castnet-player .stats-toggle').click();
    await until(page, 'stats hidden by the button', (x) => x.stats === null);
  }, 40_000);

  it('answers k and space (play/pause), m (mute), arrows (seek 5 s) and f (fullscreen)', async () => {
    await page.locator('castnet-player').focus();
    await page.keyboard.press('k');
    await until(page, 'paused by k', (s) => s.paused);
    await page.keyboard.press('k');
    await until(page, 'playing after k', (s) => !s.paused);
    // Room behind to seek over, found while playing: paused, the window slides on past the playhead.
    await until(page, 'room to seek back', (s) => !s.paused && s.seekable && s.currentTime - s.seekable[0] > 8 && s, 30_000);
    await page.keyboard.press(' ');
    await until(page, 'paused by space', (s) => s.paused);
    const muted = (await ui(page)).muted;
    await page.keyboard.press('m');
    await until(page, 'mute toggled by m', (s) => s.muted !== muted);
    await page.keyboard.press('m');
    await until(page, 'mute toggled back', (s) => s.muted === muted);
    // Paused, so currentTime only moves by the seeks.
    const at = (await ui(page)).currentTime;
    await page.keyboard.press('ArrowLeft');
    const back = await until(page, 'seeked back 5 s', (s) => Math.abs(s.currentTime - (at - 5)) < 0.3 && s);
    await page.keyboard.press('ArrowRight');
    await until(page, 'seeked forward 5 s', (s) => Math.abs(s.currentTime - (back.currentTime + 5)) < 0.3);
    await page.keyboard.press('f');
    await until(page, 'fullscreen by f', (s) => s.fullscreen, 5_000);
    await page.keyboard.press('f');
    await until(page, 'fullscreen left by f', (s) => !s.fullscreen, 5_000);
    await page.keyboard.press('k');
    await until(page, 'playing again', (s) => !s.paused);
  }, 60_000);

  it('reaches every control with Tab, each with an aria label and a visible focus ring', async () => {
    await page.locator('castnet-player').focus();
    const seen: Array<{ label: string; outline: string }> = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      const f = (await page.evaluate(`(() => {
        const el = document.querySelector('castnet-player');
        const a = el.shadowRoot.activeElement;
        return a ? { label: a.getAttribute('aria-label') ?? '', outline: getComputedStyle(a).outlineStyle } : null;
      })()`)) as { label: string; outline: string } | null;
      if (!f) break;
      seen.push(f);
    }
    const labels = seen.map((s) => s.label);
    for (const want of [/^(Play|Pause)$/, /^(Mute|Unmute)$/, /^Seek$/, /^Quality/, /statistics$/, /^Full screen$/]) assert.ok(labels.some((l) => want.test(l)), `${want} in ${JSON.stringify(labels)}`);
    assert.ok(seen.every((s) => s.label !== '' && s.outline !== 'none'), JSON.stringify(seen));
  }, 30_000);

  it('offers Go live after pausing or rewinding behind the edge, and Go live returns to it', async () => {
    const back = async (how: string, act: () => Promise<void>) => {
      await act();
      await until(page, `Go live offered after ${how}`, (s) => !s.goLiveHidden && !s.liveEdge, 30_000);
      await page.locator('castnet-player .golive').click();
      const s = await until(page, `at the live edge again after ${how}`, (x) => x.goLiveHidden && x.liveEdge && !x.paused && x, 15_000);
      assert.ok(s.behind < 3, `${s.behind} s behind the sync position`);
    };
    await back('pausing', async () => {
      if (!(await ui(page)).paused) await page.locator('castnet-player .play').click();
      await until(page, 'paused', (s) => s.paused);
    });
    await back('rewinding', async () => {
      // 5 s behind the sync position, well inside the live window: a point near its start may slide out of the
      // playlist before its segment loads, and hls.js then jumps back to the edge by itself.
      await until(page, 'a live window to rewind over', (s) => s.seekable && s.liveSync !== null && s.liveSync - s.seekable[0] > 7 && s, 20_000);
      await page.evaluate(`(() => { const el = document.querySelector('castnet-player'); el.video.currentTime = el.engine.liveSyncPosition - 5; })()`);
    });
  }, 90_000);

  it('fits a 360 px wide phone screen: no horizontal overflow, every control inside the player', async () => {
    const phone = await browser.newPage({ viewport: { width: 360, height: 640 }, isMobile: true, hasTouch: true });
    try {
      await phone.goto(watchUrl);
      await until(phone, 'phone playback', (s) => s.state === 'playing' && s.currentTime > 0.5, 30_000);
      const layout = (await phone.evaluate(`(() => {
        const el = document.querySelector('castnet-player');
        const box = el.getBoundingClientRect();
        const controls = [...el.shadowRoot.querySelectorAll('.bar > *')].filter((c) => !c.hidden && getComputedStyle(c).display !== 'none');
        return {
          scrollWidth: document.documentElement.scrollWidth, innerWidth,
          box: { left: box.left, right: box.right },
          controls: controls.map((c) => { const r = c.getBoundingClientRect(); return { cls: c.className, left: r.left, right: r.right, width: r.width }; }),
        };
      })()`)) as { scrollWidth: number; innerWidth: number; box: { left: number; right: number }; controls: Array<{ cls: string; left: number; right: number; width: number }> };
      assert.ok(layout.scrollWidth <= layout.innerWidth, `page ${layout.scrollWidth} px wide in a ${layout.innerWidth} px screen`);
      for (const c of layout.controls) assert.ok(c.width > 0 && c.left >= layout.box.left - 0.5 && c.right <= layout.box.right + 0.5, `${c.cls} at ${c.left}–${c.right} in ${layout.box.left}–${layout.box.right}`);
      assert.ok(layout.controls.some((c) => c.cls.includes('quality')) && layout.controls.some((c) => c.cls.includes('fullscreen')));
      await phone.screenshot({ path: `${ARTIFACTS}/phone-360.png` });
    } finally {
      await phone.close();
    }
  }, 60_000);

  it('plays inside the iframe embed, where fullscreen is allowed', async () => {
    const host = await browser.newPage();
    let site: Server | undefined;
    try {
      // Another site framing the embed: its own origin (a server of the test's on another port).
      const html = `<!doctype html><iframe src="${net!.relay.url}/embed/${playbackId}" width="640" height="360" allow="autoplay; fullscreen" allowfullscreen style="border:0"></iframe>`;
      site = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
      await new Promise<void>((r) => site!.listen(0, '127.0.0.1', r));
      await host.goto(`http://127.0.0.1:${(site.address() as AddressInfo).port}/`);
      const frame = await waitFor('the embed frame', async () => (await (await host.waitForSelector('iframe')).contentFrame()) ?? undefined, 10_000, 100);
      await frame.waitForSelector('castnet-player', { state: 'attached', timeout: 15_000 }).catch(async (err: Error) => {
        throw new Error(`${err.message}: frame at ${frame.url()}: ${(await frame.content().catch(() => '')).slice(0, 300)}`);
      });
      await until(frame as unknown as Page, 'embed playback', (s) => s.state === 'playing' && s.currentTime > 0.5, 30_000);
      assert.equal(await frame.evaluate('document.fullscreenEnabled'), true);
      assert.equal(await frame.locator('castnet-player .fullscreen').isVisible(), true);
    } finally {
      await host.close();
      await new Promise((r) => (site ? site.close(r) : r(undefined)));
    }
  }, 60_000);

  it("takes the poster from the stream's thumbnail once the origin has made one (asking again while it is missing), and from the poster attribute when given", async () => {
    await waitFor('a thumbnail at the origin', async () => {
      const thumb = await fetch(`${net!.relay.url}/hls/${playbackId}/thumbnail.jpg`);
      await thumb.arrayBuffer();
      return thumb.status === 200;
    }, 30_000, 500);
    await until(page, 'the thumbnail as poster', (s) => s.poster.endsWith(`/hls/${playbackId}/thumbnail.jpg`));
    const poster = `${net!.relay.url}/player/poster-override.jpg`;
    await page.evaluate(`document.querySelector('castnet-player').setAttribute('poster', ${JSON.stringify(poster)})`);
    await until(page, 'the poster attribute on the video', (s) => s.poster === poster && s.state === 'playing', 30_000);
  }, 60_000);

  it('shows the ended state once the publisher stops and the reconnect grace runs out', async () => {
    await Promise.all(publishers.splice(0).map((p) => p.stop()));
    const ended = await until(page, 'the ended state', (s) => s.state === 'ended' && s, 40_000);
    assert.match(ended.status, /ended/i);
    assert.equal(ended.liveHidden, true, 'no LIVE indicator on an ended stream');
    await page.screenshot({ path: `${ARTIFACTS}/ended.png` });
    assert.deepEqual(pageErrors, []);
  }, 60_000);
});

describe('the player on a low-latency stream', () => {
  let net: TestNetwork | undefined;
  const publishers: Publisher[] = [];
  let browser: Browser | undefined;

  afterAll(async () => {
    await browser?.close();
    await stopAll(publishers, net);
  });

  it('turns on hls.js low-latency mode with PART-HOLD-BACK as its target and a bounded catch-up rate when the playlist advertises parts', async () => {
    net = await startNetwork({ lowLatency: true, partTarget: 0.334, ladder: [] });
    publishers.push(publish(`${net.broadcaster.rtmpUrl}/ll-ui`));
    const playbackId = net.broadcaster.keys.resolve('ll-ui')!;
    const playlist = await waitFor('an LL playlist with parts', async () => {
      const r = await getText(`${net!.relay.url}/hls/${playbackId}/source/index.m3u8`);
      return r.status === 200 && r.text.includes('#EXT-X-PART:') ? r.text : undefined;
    }, 40_000);
    const holdBack = Number(/PART-HOLD-BACK=([\d.]+)/.exec(playlist)![1]);
    browser = await launchChromium();
    const page = await browser.newPage();
    await page.goto(`${net.relay.url}/watch/${playbackId}`);
    const s = await until(page, 'the LL tuning', (x) => x.tuning && x.config && x, 30_000);
    assert.deepEqual(s.tuning, { lowLatency: true, partTarget: 0.334, targetLatency: holdBack });
    assert.deepEqual(s.config, { lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.2, liveSyncDuration: holdBack });
  }, 90_000);
});

describe('the player on a recording and a rewind window', () => {
  let net: TestNetwork | undefined;
  const publishers: Publisher[] = [];
  let browser: Browser | undefined;
  const relayDir = mkdtempSync(join(tmpdir(), 'castnet-player-recording-'));

  afterAll(async () => {
    await browser?.close();
    await stopAll(publishers, net);
    rmSync(relayDir, { recursive: true, force: true });
  });

  it("rewinds a live stream over its DVR window, further back than the live playlist reaches, and Go live returns to the edge; then plays the ended stream's recording as VOD from its start", async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    net = await startNetwork({ reconnectGraceMs: 1_000, ladder: [] }, {}, 10n ** 18n, { transcoder: false, relayOptions: { recording: true, dataDir: relayDir } });
    net.broadcaster.keys.add('recorded-ui');
    const id = net.broadcaster.keys.resolve('recorded-ui')!;
    const publisher = publish(`${net.broadcaster.rtmpUrl}/recorded-ui`, { width: 320, height: 180 });
    publishers.push(publisher);
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 960, height: 700 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await waitFor('the live stream', async () => (await getText(`${net!.relay.url}/hls/${id}/source/index.m3u8`)).status === 200, 30_000, 200);
    await page.goto(`${net.relay.url}/watch/${id}`);
    await page.evaluate(`document.querySelector('castnet-player').setAttribute('src', ${JSON.stringify(`${net.relay.url}/dvr/${id}/master.m3u8`)})`);
    // The live playlist lists 6 segments (12 s); the rewind window holds everything recorded (up to --dvr-seconds).
    const window = await until(page, 'a rewind window longer than the live playlist', (s) => s.state === 'playing' && s.seekable && s.seekable[1] - s.seekable[0] > 16 && s, 60_000);
    const target = window.seekable![0] + 0.5;
    await page.evaluate(`(() => { const v = document.querySelector('castnet-player').video; v.currentTime = ${target}; })()`);
    const rewound = await until(page, 'playing from the start of the window', (s) => !s.paused && s.currentTime < target + 3 && s.currentTime > target && !s.goLiveHidden && s, 20_000);
    assert.ok(window.seekable![1] - rewound.currentTime > 12, `rewound ${(window.seekable![1] - rewound.currentTime).toFixed(1)} s behind the edge, more than the live playlist's 12 s`);
    await page.screenshot({ path: `${ARTIFACTS}/dvr-rewound.png` });
    await page.locator('castnet-player .golive').click();
    await until(page, 'back at the live edge', (s) => s.goLiveHidden && s.liveEdge && !s.paused && s, 20_000);

    await publisher.stop();
    const recording = await waitFor('the recording to end', async () => {
      const list = JSON.parse((await getText(`${net!.relay.url}/api/recordings?playbackId=${id}`)).text) as Array<{ recordingId: string; state: string; durationSeconds: number }>;
      return list[0]?.state === 'ended' ? list[0] : undefined;
    }, 30_000, 200);
    await page.evaluate(`document.querySelector('castnet-player').setAttribute('src', ${JSON.stringify(`${net.relay.url}/vod/${recording.recordingId}/master.m3u8`)})`);
    const first = await until(page, 'the VOD playing', (s) => s.state === 'playing' && s.currentTime > 0 && s, 30_000);
    assert.ok(first.currentTime < 3, `VOD starts at its beginning (at ${first.currentTime.toFixed(2)} s)`);
    assert.equal(first.liveHidden, true, 'a recording shows no LIVE indicator');
    const duration = (await page.evaluate(`document.querySelector('castnet-player').video.duration`)) as number;
    assert.ok(Math.abs(duration - recording.durationSeconds) < 2.5, `the video's duration ${duration} s is the recording's ${recording.durationSeconds} s`);
    await until(page, 'the VOD advancing', (s) => s.currentTime > first.currentTime + 2 && s, 20_000);
    await page.screenshot({ path: `${ARTIFACTS}/vod-playing.png` });
    const v = (await page.evaluate(samplePlayer)) as { verification: { refused: number; verified: number } | null };
    assert.equal(v.verification?.refused, 0, 'every recorded segment checks against the publisher key');
    assert.deepEqual(pageErrors, []);
  }, 150_000);
});
