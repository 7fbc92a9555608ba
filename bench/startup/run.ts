// bench/startup: how long from starting `castnet dev` (what `npm start` runs) until the demo stream plays
// in Chromium, and how long a segment takes from being complete at ingest to being available at the
// relay, per rendition (from the broadcaster's latency histogram after --seconds of streaming), and what
// the player's check of every segment costs in Chromium (its hash and signature time, per segment and as a
// share of the page's main-thread time). Prints
// figures only after checking the player kept playing without error and every rendition reached the relay.
// Needs Debian's Chromium (apt-get install chromium). Usage: npm run bench:startup [-- --seconds 30]

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags } from '../../cli/options.ts';
import { chromiumPath, launchChromium, samplePlayer, type PlaybackSample } from '../../test/support/browser.ts';
import { waitFor } from '../../test/support/network.ts';
import { median, requireExecutable, runBench } from '../support/report.ts';

const RENDITIONS = ['source', '720p', '480p', '360p'];
const { flags } = parseFlags(process.argv.slice(2));
/** A share of wall time, as a percentage. */
const shareOfWall = (ms: number, wallS: number) => `${((ms / 1000 / wallS) * 100).toFixed(2)}%`;
const seconds = Number(flags.get('seconds') ?? 30);

process.exit(
  await runBench('startup', { seconds, chromium: chromiumPath, command: 'castnet dev (ports 0, temp data dir)' }, async (bench) => {
    requireExecutable(chromiumPath, 'apt-get install chromium (or set CHROMIUM_PATH)');
    const dataDir = mkdtempSync(join(tmpdir(), 'castnet-bench-startup-'));
    const browser = await launchChromium();
    const page = await browser.newPage();
    // Chromium's own counters of the page's main-thread time, from here on.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const started = performance.now();
    const dev = spawn(process.execPath, ['bin/castnet.js', 'dev', '--rtmp-port', '0', '--http-port', '0', '--orchestrator-port', '0', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    dev.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    try {
      await waitFor('the banner', () => stdout.includes('Press Ctrl-C'), 60_000, 20);
      const bannerAt = performance.now();
      const demoUrl = /Demo stream\s+(\S+)/.exec(stdout)?.[1];
      const broadcasterMetrics = /Metrics\s+(.*)/.exec(stdout)?.[1]?.split(/\s+/).at(-1);
      bench.check(demoUrl !== undefined && broadcasterMetrics !== undefined, `castnet dev printed its banner with the demo URL and metrics URLs`, `castnet dev's banner lacks the demo URL or metrics URLs:\n${stdout}`);
      await page.goto(demoUrl!);
      const first = await waitFor('the demo to play', async () => {
        const s = (await page.evaluate(samplePlayer)) as PlaybackSample | null;
        return s && s.currentTime > 0 ? s : undefined;
      }, 60_000, 50);
      const playingAt = performance.now();
      bench.check(first.currentTime > 0, `demo playing in Chromium (currentTime ${first.currentTime.toFixed(2)} s)`);
      bench.figure(`castnet dev → banner printed:        ${((bannerAt - started) / 1000).toFixed(2)} s`);
      bench.figure(`castnet dev → demo video playing:    ${((playingAt - started) / 1000).toFixed(2)} s (Chromium, first currentTime > 0)`);

      await new Promise((r) => setTimeout(r, seconds * 1000));
      const sample = (await page.evaluate(samplePlayer)) as PlaybackSample;
      const advanced = sample.currentTime - first.currentTime;
      // Live playback may pause briefly to rebuffer; half the wall time is the least a healthy player covers.
      bench.check(
        advanced >= seconds / 2 && sample.errors.length === 0 && sample.mediaError === null,
        `player advanced ${advanced.toFixed(1)} s in ${seconds} s with no player or media error`,
        `player advanced ${advanced.toFixed(1)} s in ${seconds} s; errors ${JSON.stringify(sample.errors)}, media error ${sample.mediaError}`,
      );
      bench.figure(`after ${seconds} s more: player at ${sample.currentTime.toFixed(1)} s, rendition ${sample.rendition}`);

      // What checking every segment costs the browser (player/segment-verifier.ts times its hash and
      // signature check), against the page's whole main-thread task time from Chromium's own counters.
      const v = sample.verification;
      bench.check(
        v !== null && v.verified > 0 && v.refused === 0 && v.checkedBytes > 0,
        `the player verified ${v?.verified} segments (${((v?.checkedBytes ?? 0) / 1024 ** 2).toFixed(1)} MiB) and refused none`,
        `the player's verification: ${JSON.stringify(v)}`,
      );
      const perf = new Map(((await cdp.send('Performance.getMetrics')) as { metrics: Array<{ name: string; value: number }> }).metrics.map((m) => [m.name, m.value]));
      const taskS = perf.get('TaskDuration') ?? 0;
      const scriptS = perf.get('ScriptDuration') ?? 0;
      bench.check(taskS > 1 && scriptS > 0, `Chromium reports the page's main-thread time: tasks ${taskS.toFixed(2)} s, script ${scriptS.toFixed(2)} s`);
      const playedS = (performance.now() - playingAt) / 1000;
      // The signature check is synchronous (its time is main-thread CPU); checkMs adds the hash's wall time
      // (WebCrypto's digest, awaited), so it includes waiting for a busy event loop: an upper bound.
      bench.figure(
        `player verification in Chromium: signature check median ${median(v!.signatureTimes).toFixed(2)} ms of main-thread CPU per segment, longest ${Math.max(...v!.signatureTimes).toFixed(0)} ms (the first checks build the key's tables); all checks ${v!.signatureMs.toFixed(0)} ms ` +
          `(${((v!.signatureMs / 1000 / scriptS) * 100).toFixed(1)}% of the page's script time ${scriptS.toFixed(2)} s, ${shareOfWall(v!.signatureMs, playedS)} of the ${playedS.toFixed(0)} s played); ` +
          `hash + check wall time ${(v!.checkMs / v!.verified).toFixed(2)} ms per segment (${(v!.checkMs / (v!.checkedBytes / 1024 ** 2)).toFixed(1)} ms per MiB, waiting for a busy event loop included)`,
      );

      const metricsRes = await fetch(broadcasterMetrics!);
      const metrics = await metricsRes.text();
      const value = (rendition: string, suffix: string) =>
        Number(new RegExp(`^castnet_broadcaster_segment_latency_seconds_${suffix}\\{[^}]*rendition="${rendition}"[^}]*\\} (\\S+)`, 'm').exec(metrics)?.[1] ?? 0);
      const counted = RENDITIONS.filter((r) => value(r, 'count') > 0);
      bench.check(
        metricsRes.status === 200 && counted.includes('source') && counted.length >= 2,
        `segments reached the relay for ${counted.join(', ')} (${counted.map((r) => value(r, 'count')).join(', ')} segments)`,
        `broadcaster metrics (${metricsRes.status}) count segments at the relay only for [${counted.join(', ')}]: want source and at least one transcoded rendition`,
      );
      bench.figure('\nsegment complete at ingest → available at the relay (castnet_broadcaster_segment_latency_seconds):');
      for (const rendition of counted) {
        const count = value(rendition, 'count');
        const buckets = [...metrics.matchAll(new RegExp(`^castnet_broadcaster_segment_latency_seconds_bucket\\{le="([^"]+)",[^}]*rendition="${rendition}"[^}]*\\} (\\S+)`, 'gm'))].map((m) => [m[1]!, Number(m[2])] as const);
        const p95 = buckets.find(([, n]) => n >= 0.95 * count)?.[0];
        bench.figure(`  ${rendition.padEnd(7)} mean ${((value(rendition, 'sum') / count) * 1000).toFixed(0).padStart(5)} ms over ${count} segments, p95 ≤ ${p95} s`);
      }
    } finally {
      dev.kill('SIGTERM');
      await new Promise((r) => dev.once('exit', r));
      await browser.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }),
);
