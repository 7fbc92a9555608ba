// Test support: Debian's Chromium, headless, driven by playwright-core (never a downloaded browser).

import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) throw new Error(`Chromium not found at ${chromiumPath}: apt-get install chromium (or set CHROMIUM_PATH)`);
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
}

export interface PlaybackSample {
  currentTime: number;
  readyState: number;
  errors: string[];
  rendition: string | null;
  mediaError: string | null;
  /** What the player checked of each segment (player/segment-verifier.ts). */
  verification: { publisher: string | null; publisherSource: string | null; verified: number; refused: number; refusals: Array<{ url: string; reason: string }>; verifiedSeqs: Record<string, number[]>; checkMs: number; signatureMs: number; signatureTimes: number[]; checkedBytes: number } | null;
}

/** Reads the state of the first <castnet-player> on the page. */
export const samplePlayer = `(() => {
  const el = document.querySelector('castnet-player');
  if (!el || !el.video) return null;
  const v = el.video;
  return { currentTime: v.currentTime, readyState: v.readyState, errors: [...el.errors], rendition: el.rendition, mediaError: v.error ? String(v.error.code) + ' ' + v.error.message : null, verification: el.verification ? JSON.parse(JSON.stringify(el.verification)) : null };
})()`;
