// The dashboard in real Chromium against a real network with a real FFmpeg publisher: the live stream and
// the nodes appear, the stream's end arrives over server-sent events (no reload), a stream key made with the
// admin token shows its OBS settings and one made without is refused, a webhook delivery to a real receiver
// appears (failing first, then delivered on a retry), nothing overflows 360 px, and every control is reached
// with Tab. Screenshots are kept in test/artifacts/.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium } from './support/browser.ts';
import { publish, startNetwork, stopAll, type Publisher, type TestNetwork } from './support/network.ts';
import { streamKeyIssuer } from '../cli/stream-key-issuer.ts';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.ts';

const webhookSecret = 'whsec_dashboard-test-0000000000';

const artifacts = join(import.meta.dirname, 'artifacts');

describe('dashboard', () => {
  let net: TestNetwork | undefined;
  let browser: Browser | undefined;
  const publishers: Publisher[] = [];
  let receiver: WebhookReceiver | undefined;
  afterEach(async () => {
    await receiver?.close();
    receiver = undefined;
    await browser?.close();
    browser = undefined;
    await stopAll(publishers, net);
    net = undefined;
  });

  it('lists the live stream and the nodes, shows its end live over SSE, makes a key only with the token, shows a webhook delivery failing then delivered, fits 360 px and works with the keyboard', async () => {
    receiver = await startWebhookReceiver(webhookSecret);
    // The receiver fails the first attempt: the row shows the retry, then the delivery.
    receiver.answer = 500;
    net = await startNetwork({ reconnectGraceMs: 1_000 }, {}, undefined, { orchestratorOptions: { webhookUrls: [receiver.url], webhookSecret, webhookRetryMs: 1_500 } });
    net.orchestrator.attachStreamKeys(streamKeyIssuer(net.broadcaster, net.relay.url));
    net.broadcaster.keys.add('dashboard');
    const playbackId = net.broadcaster.keys.resolve('dashboard');
    const publisher = publish(`${net.broadcaster.rtmpUrl}/dashboard`, { seconds: 120 });
    publishers.push(publisher);

    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const consoleErrors: string[] = [];
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    await page.goto(`${net.orchestrator.url}/dashboard`);
    await page.evaluate('window.__sameDocument = true');

    const card = page.locator(`li.card[data-playback-id="${playbackId}"]`);
    await card.and(page.locator('[data-state="live"]')).waitFor({ timeout: 30_000 });
    await page.locator('#nodes tbody tr', { hasText: 'transcoder' }).waitFor({ timeout: 10_000 });
    await page.locator('#nodes tbody tr', { hasText: 'relay' }).waitFor({ timeout: 10_000 });
    assert.match(await page.locator('#status').innerText(), /1 live stream/);
    // The thumbnail or its placeholder, never a broken image.
    assert.equal(await card.locator('img.thumb, .thumb.placeholder').count(), 1);
    assert.match(await page.locator('#accounts tbody').innerText(), new RegExp(net.broadcaster.paymentAddress.slice(2, 10), 'i'));
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'dashboard-live.png'), fullPage: true });

    // stream.started went to the real receiver, which refused it (500): the row says so, live.
    const started = page.locator('#deliveries tbody tr', { hasText: 'stream.started' });
    await started.filter({ hasText: 'answered 500' }).waitFor({ timeout: 15_000 });
    assert.match(await started.innerText(), new RegExp(playbackId));
    receiver.answer = 200;
    await started.filter({ hasText: 'delivered' }).waitFor({ timeout: 15_000 });
    assert.ok(receiver.events().some((e) => e.type === 'stream.started' && e.playbackId === playbackId), 'the receiver verified the delivery');
    assert.ok(Number(await started.locator('td').nth(4).innerText()) >= 2, 'delivered on a retry');
    await page.locator('#deliveries').screenshot({ path: join(artifacts, 'dashboard-webhook-delivery.png') });

    // Without the token: refused, and the page says so.
    await page.click('#create-key');
    await page.locator('#key-error', { hasText: 'Refused' }).waitFor({ timeout: 5_000 });
    assert.equal(await page.locator('#obs').isHidden(), true);

    // With the token: a key, and the OBS settings to copy.
    await page.fill('#token', net.orchestrator.adminToken);
    await page.press('#token', 'Enter');
    await page.click('#create-key');
    await page.locator('#obs').waitFor({ state: 'visible', timeout: 5_000 });
    assert.equal(await page.locator('dd[data-field="Server"] code').innerText(), net.broadcaster.rtmpUrl);
    const streamKey = await page.locator('dd[data-field="Stream Key"] code').innerText();
    assert.match(streamKey, /^sk_/);
    assert.ok(net.broadcaster.keys.list().some((k) => k.streamKey === streamKey), 'the key is in the broadcaster store');
    assert.match(await page.locator('#obs-settings').innerText(), /Keyframe interval\s+2 s/);
    await page.screenshot({ path: join(artifacts, 'dashboard-obs-settings.png'), fullPage: true });

    // The stream ends: the page learns it from the feed, in the same document.
    await publisher.stop();
    await card.and(page.locator('[data-state="ended"]')).waitFor({ timeout: 30_000 });
    assert.equal(await page.evaluate('window.__sameDocument'), true);
    assert.match(await page.locator('#events').innerText(), new RegExp(`stream ${playbackId} ended`));

    // Phone width: nothing wider than the screen.
    await page.setViewportSize({ width: 360, height: 740 });
    const width = (await page.evaluate('document.documentElement.scrollWidth')) as number;
    assert.ok(width <= 360, `scrollWidth ${width} at 360 px`);
    await page.screenshot({ path: join(artifacts, 'dashboard-360.png'), fullPage: true });

    // Keyboard: every control reached with Tab, with a visible focus ring.
    const controls = (await page.evaluate(`[...document.querySelectorAll('button, input, a[href], [tabindex="0"]')].filter((e) => e.offsetParent !== null).map((e) => e.id || e.getAttribute('aria-label') || e.textContent.trim())`)) as string[];
    await page.evaluate('document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)');
    const reached = new Set<string>();
    let outlined = 0;
    for (let i = 0; i < controls.length + 10; i++) {
      await page.keyboard.press('Tab');
      const focused = (await page.evaluate(`(() => { const e = document.activeElement; if (!e || e === document.body) return null; return { name: e.id || e.getAttribute('aria-label') || e.textContent.trim(), outline: getComputedStyle(e).outlineStyle }; })()`)) as { name: string; outline: string } | null;
      if (!focused) continue;
      reached.add(focused.name);
      if (focused.outline !== 'none') outlined++;
    }
    const missing = controls.filter((c) => !reached.has(c));
    assert.deepEqual(missing, [], `not reached by Tab: ${missing.join(', ')}`);
    assert.ok(outlined > 0, 'focus is visible');
    assert.deepEqual(consoleErrors, []);
  });
});
