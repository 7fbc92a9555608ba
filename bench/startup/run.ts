// bench/startup: how long from starting `castnet dev` (what `npm start` runs) until the demo stream plays
// in Chromium, and how long a segment takes from being complete at ingest to being available at the
// relay, per rendition (from the broadcaster's latency histogram after --seconds of streaming).
// Usage: npm run bench:startup [-- --seconds 30]

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags } from '../../cli/options.ts';
import { launchChromium, samplePlayer, type PlaybackSample } from '../../test/support/browser.ts';
import { waitFor } from '../../test/support/network.ts';

const { flags } = parseFlags(process.argv.slice(2));
const seconds = Number(flags.get('seconds') ?? 30);
const dataDir = mkdtempSync(join(tmpdir(), 'castnet-bench-startup-'));
const browser = await launchChromium();
const page = await browser.newPage();

const started = performance.now();
const dev = spawn(process.execPath, ['bin/castnet.js', 'dev', '--rtmp-port', '0', '--http-port', '0', '--orchestrator-port', '0', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
let stdout = '';
dev.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
try {
  await waitFor('the banner', () => stdout.includes('Press Ctrl-C'), 60_000, 20);
  const bannerAt = performance.now();
  const demoUrl = /Demo stream\s+(\S+)/.exec(stdout)![1]!;
  const broadcasterMetrics = /Metrics\s+(.*)/.exec(stdout)![1]!.split(/\s+/).at(-1)!;
  await page.goto(demoUrl);
  await waitFor('the demo to play', async () => (((await page.evaluate(samplePlayer)) as PlaybackSample | null)?.currentTime ?? 0) > 0, 60_000, 50);
  const playingAt = performance.now();
  console.log(`castnet dev → banner printed:        ${((bannerAt - started) / 1000).toFixed(2)} s`);
  console.log(`castnet dev → demo video playing:    ${((playingAt - started) / 1000).toFixed(2)} s (Chromium, first currentTime > 0)`);

  await new Promise((r) => setTimeout(r, seconds * 1000));
  const sample = (await page.evaluate(samplePlayer)) as PlaybackSample;
  console.log(`after ${seconds} s more: player at ${sample.currentTime.toFixed(1)} s, rendition ${sample.rendition}, errors ${JSON.stringify(sample.errors)}`);
  const metrics = await (await fetch(broadcasterMetrics)).text();
  console.log('\nsegment complete at ingest → available at the relay (castnet_broadcaster_segment_latency_seconds):');
  for (const rendition of ['source', '720p', '480p', '360p']) {
    const value = (suffix: string, le?: string) =>
      Number(new RegExp(`^castnet_broadcaster_segment_latency_seconds_${suffix}\\{[^}]*${le ? `le="${le}"[^}]*` : ''}rendition="${rendition}"[^}]*\\} (\\S+)`, 'm').exec(metrics)?.[1] ?? NaN);
    const count = value('count');
    if (!count) continue;
    const buckets = [...metrics.matchAll(new RegExp(`^castnet_broadcaster_segment_latency_seconds_bucket\\{le="([^"]+)",[^}]*rendition="${rendition}"[^}]*\\} (\\S+)`, 'gm'))].map((m) => [m[1]!, Number(m[2])] as const);
    const p95 = buckets.find(([, n]) => n >= 0.95 * count)?.[0];
    console.log(`  ${rendition.padEnd(7)} mean ${((value('sum') / count) * 1000).toFixed(0).padStart(5)} ms over ${count} segments, p95 ≤ ${p95} s`);
  }
} finally {
  dev.kill('SIGTERM');
  await new Promise((r) => dev.once('exit', r));
  await browser.close();
  rmSync(dataDir, { recursive: true, force: true });
}
