// Test support for attack tests (test/attacks/): a live network under attack while an honest stream plays.
//
//   const live = await startLiveNetwork();            // orchestrator, transcoder, relay, broadcaster on loopback,
//                                                     // an FFmpeg publisher, Chromium on the relay's watch page
//   const report = await live.attack('fake-nodes.ts', { orchestrator: live.net.orchestrator.url });
//   assert.equal(report.step('hijack').reason, 'proof_wrong_key');
//   assert.ok(await live.refused('stream_owned') >= 1);   // castnet_orchestrator_requests_refused_total
//   await live.assertHonestStreamHealthy();           // the player advanced without errors, verified every
//                                                     // segment it played against the directory's publisher
//                                                     // key, no sequence number missing in any rendition, no
//                                                     // gap in the source
//   live.assertOnlyHonestMoney(before);               // the ledger moved only from the broadcaster to the transcoder
//   await live.close();
//
// An attack is a script in test/attacks/scripts/ run as its own OS process (`node <script> <json args>`),
// so nothing it does shares memory with the network; it talks to the network only over HTTP (or libp2p),
// from 127.0.0.2 (test/support/attacker.ts), and prints a JSON report of its attempts. Add an attack by
// writing a script with attempt()/finish() from attacker.ts and a test that starts a live network.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { Account } from '../../orchestrator/ledger.ts';
import type { AttackStep } from './attacker.ts';
import { launchChromium, samplePlayer, type PlaybackSample } from './browser.ts';
import { getText, metric, publish, startNetwork, waitFor, type Publisher, type TestNetwork } from './network.ts';

export { ATTACKER_ADDRESS } from './attacker.ts';

const SCRIPTS = join(import.meta.dirname, '..', 'attacks', 'scripts');
/** An attack runs at most this long by default: every attack is bounded in count and time. */
const ATTACK_TIMEOUT_MS = 60_000;

export interface AttackReport {
  steps: AttackStep[];
  /** The step named `name`; fails the test when the script made none. */
  step(name: string): AttackStep;
  [key: string]: unknown;
}

/** Every sequence number a rendition's playlist listed while it was watched, and the gaps it marked. */
interface RenditionWatch {
  seqs: Set<number>;
  gaps: Set<number>;
  /** Each poll: ms since the watch started, the HTTP status (0: no answer), and the first and last seq listed. */
  polls: Array<{ at: number; status: number; first: number | null; last: number | null; error?: string }>;
}

/** Polls every rendition playlist of a stream at the relay, so no sequence number can go missing unseen. */
class PlaylistWatch {
  readonly renditions = new Map<string, RenditionWatch>();
  private timer: NodeJS.Timeout | null = null;
  private readonly base: string;

  constructor(base: string) {
    this.base = base;
  }

  start(names: string[]): void {
    for (const n of names) this.renditions.set(n, { seqs: new Set(), gaps: new Set(), polls: [] });
    const started = Date.now();
    const poll = async () => {
      await Promise.all(names.map(async (name) => {
        const at = Date.now() - started;
        const answer = await getText(`${this.base}/${name}/index.m3u8`).catch((err: Error) => ({ status: 0, text: '', error: err.message }));
        const text = answer.text;
        const watch = this.renditions.get(name)!;
        const listed = [...text.matchAll(/^(\d+)\.(?:ts|m4s)$/gm)].map((m) => Number(m[1]));
        watch.polls.push({ at, status: answer.status, first: listed[0] ?? null, last: listed.at(-1) ?? null, ...('error' in answer ? { error: answer.error } : answer.status === 200 ? {} : { error: text.slice(0, 200) }) });
        if (watch.polls.length > 2_000) watch.polls.shift();
        let gap = false;
        for (const line of text.split('\n')) {
          if (line === '#EXT-X-GAP') gap = true;
          const seq = /^(\d+)\.(?:ts|m4s)$/.exec(line)?.[1];
          if (seq === undefined) continue;
          watch.seqs.add(Number(seq));
          if (gap) watch.gaps.add(Number(seq));
          gap = false;
        }
      }));
      if (this.timer) this.timer = setTimeout(() => void poll(), 500);
    };
    this.timer = setTimeout(() => void poll(), 0);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

export interface LiveNetwork {
  net: TestNetwork;
  publisher: Publisher;
  playbackId: string;
  page: Page;
  /** Runs `test/attacks/scripts/<script>` as its own process with `args`; resolves with its report. */
  attack(script: string, args: Record<string, unknown>, options?: { timeoutMs?: number }): Promise<AttackReport>;
  /**
   * Starts an attack that serves (a malicious node): resolves once the script printed its first JSON line
   * (where it listens); `stop()` writes `stop` to its stdin and resolves with the report it then prints.
   */
  attackServer(script: string, args: Record<string, unknown>): Promise<{ info: Record<string, unknown>; stop(): Promise<AttackReport> }>;
  /** Opens another Chromium page at `url`; resolves once its player plays, with a way to sample it. */
  watch(url: string): Promise<{ page: Page; sample(): Promise<PlaybackSample> }>;
  /** The orchestrator's count of writes refused for `reason`. */
  refused(reason: string): Promise<number>;
  /** Every account in the ledger now. */
  accounts(): Map<string, Account>;
  /**
   * Money moved only by honest work since `before`: every account that changed is the honest broadcaster
   * (paying) or the honest transcoder (paid), by the same amount; no other account appeared or changed.
   */
  assertOnlyHonestMoney(before: Map<string, Account>): void;
  /**
   * The honest stream kept playing: the player's clock advanced by `minAdvanceS` since the last check with no
   * player error, every rendition's sequence numbers seen so far are contiguous, and the source has no gap.
   */
  assertHonestStreamHealthy(minAdvanceS?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startLiveNetwork(options: { streamKey?: string; renditions?: string[]; broadcaster?: Parameters<typeof startNetwork>[0] } = {}): Promise<LiveNetwork> {
  const net = await startNetwork(options.broadcaster);
  const streamKey = options.streamKey ?? 'honest-stream';
  const publisher = publish(`${net.broadcaster.rtmpUrl}/${streamKey}`);
  const playbackId = net.broadcaster.keys.resolve(streamKey);
  const base = `${net.relay.url}/hls/${playbackId}`;
  const renditions = options.renditions ?? ['source', '360p'];
  let browser: Browser | null = null;
  const watch = new PlaylistWatch(base);
  const close = async () => {
    watch.stop();
    await browser?.close();
    await publisher.stop();
    await net.close();
  };
  try {
    await waitFor('the honest stream in every rendition', async () => {
      for (const r of renditions) if (((await getText(`${base}/${r}/index.m3u8`)).text.match(/^\d+\.(ts|m4s)$/gm) ?? []).length < 2) return false;
      return true;
    }, 60_000, 250);
    watch.start(renditions);
    browser = await launchChromium();
    const page = await browser.newPage();
    await page.goto(`${net.relay.url}/watch/${playbackId}`);
    const sample = async () => (await page.evaluate(samplePlayer)) as PlaybackSample | null;
    await waitFor('the honest stream to play in Chromium', async () => ((await sample())?.currentTime ?? 0) > 1, 30_000, 100);
    let lastTime = (await sample())!.currentTime;

    const live: LiveNetwork = {
      net,
      publisher,
      playbackId,
      page,
      async attack(script, args, attackOptions = {}) {
        const child = spawn(process.execPath, [join(SCRIPTS, script), JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const timeoutMs = attackOptions.timeoutMs ?? ATTACK_TIMEOUT_MS;
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
        clearTimeout(timer);
        const line = stdout.trim().split('\n').pop() ?? '';
        if (code !== 0 || !line.startsWith('{')) throw new Error(`attack ${script} exited with ${code} after at most ${timeoutMs} ms: ${stderr.slice(-2_000) || stdout.slice(-2_000)}`);
        const parsed = JSON.parse(line) as { steps: AttackStep[] } & Record<string, unknown>;
        return {
          ...parsed,
          step(name: string) {
            const found = parsed.steps.find((s) => s.name === name);
            assert.ok(found, `the attack made no step "${name}" (steps: ${parsed.steps.map((s) => s.name).join(', ')})`);
            return found;
          },
        };
      },
      async attackServer(script, args) {
        const child = spawn(process.execPath, [join(SCRIPTS, script), JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
        const timer = setTimeout(() => child.kill('SIGKILL'), ATTACK_TIMEOUT_MS * 3);
        const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
          child.stdout.on('data', (d: Buffer) => {
            stdout += d.toString();
            const first = stdout.split('\n')[0]!;
            if (stdout.includes('\n') && first.startsWith('{')) resolve(JSON.parse(first) as Record<string, unknown>);
          });
          void exited.then((code) => reject(new Error(`attack ${script} exited with ${code} before it listened: ${stderr.slice(-2_000)}`)));
        });
        return {
          info,
          async stop() {
            child.stdin.write('stop\n');
            const code = await exited;
            clearTimeout(timer);
            const line = stdout.trim().split('\n').pop() ?? '';
            if (code !== 0 || !line.startsWith('{')) throw new Error(`attack ${script} exited with ${code}: ${stderr.slice(-2_000) || stdout.slice(-2_000)}`);
            const parsed = JSON.parse(line) as { steps: AttackStep[] } & Record<string, unknown>;
            return { ...parsed, step: (name: string) => parsed.steps.find((x) => x.name === name) ?? assert.fail(`no step ${name}`) };
          },
        };
      },
      async watch(url) {
        const other = await browser!.newPage();
        await other.goto(url);
        const sampleOther = async () => (await other.evaluate(samplePlayer)) as PlaybackSample;
        await waitFor(`the stream to play in Chromium at ${url}`, async () => ((await sampleOther())?.currentTime ?? 0) > 1, 30_000, 100);
        return { page: other, sample: sampleOther };
      },
      refused: (reason) => metric(net.orchestrator.url, new RegExp(`^castnet_orchestrator_requests_refused_total\\{[^}]*reason="${reason}"`)),
      accounts: () => new Map(net.orchestrator.ledger!.accounts().map((a) => [a.address, a])),
      assertOnlyHonestMoney(before) {
        const after = live.accounts();
        const broadcaster = net.broadcaster.paymentAddress.toLowerCase();
        const transcoder = net.transcoder.payments.recipient.toLowerCase();
        const zero: Account = { address: '', deposit: 0n, reserve: 0n, reserveClaimed: 0n, earned: 0n, spent: 0n, withdrawn: 0n };
        for (const address of new Set([...before.keys(), ...after.keys()])) {
          if (address === broadcaster || address === transcoder) continue;
          assert.deepEqual({ ...(after.get(address) ?? zero), address }, { ...(before.get(address) ?? zero), address }, `account ${address} did not change`);
        }
        const b0 = before.get(broadcaster) ?? zero;
        const b1 = after.get(broadcaster) ?? zero;
        const t0 = before.get(transcoder) ?? zero;
        const t1 = after.get(transcoder) ?? zero;
        const paid = b0.deposit + b0.reserve - (b1.deposit + b1.reserve);
        assert.ok(paid >= 0n, 'the broadcaster was not funded by anyone');
        assert.equal(b1.spent - b0.spent, paid, "the broadcaster's spending is what left its deposit");
        assert.equal(t1.earned - t0.earned, paid, 'the transcoder earned exactly what the broadcaster paid');
      },
      async assertHonestStreamHealthy(minAdvanceS = 1) {
        const from = lastTime;
        const now = await waitFor(`the player to advance ${minAdvanceS} s past ${from.toFixed(1)} s`, async () => {
          const s = (await sample())!;
          return s.currentTime >= from + minAdvanceS ? s : undefined;
        }, 20_000, 100);
        assert.deepEqual(now.errors, [], 'the player reported no error');
        // Every segment it played was checked against the publisher key the directory binds to the stream.
        assert.equal(now.verification?.publisherSource, 'directory');
        assert.deepEqual(now.verification?.refusals, [], 'the player refused no segment');
        assert.ok((now.verification?.verified ?? 0) >= 1, 'segments were verified');
        lastTime = now.currentTime;
        for (const [name, w] of watch.renditions) {
          const seqs = [...w.seqs].sort((a, b) => a - b);
          assert.ok(seqs.length >= 2, `${name}: segments were listed`);
          // On a jump, what the playlist showed across it: each poll from the last listing the seq before the hole
          // to the first listing the seq after it (time since the watch started, status, range listed).
          const hole = seqs.findIndex((seq, i) => i > 0 && seq !== seqs[i - 1]! + 1);
          const from = hole < 0 ? -1 : w.polls.findLastIndex((p) => p.last !== null && p.last <= seqs[hole - 1]!);
          const to = hole < 0 ? -1 : w.polls.findIndex((p) => p.last !== null && p.last >= seqs[hole]!);
          const across = hole < 0 ? [] : w.polls.slice(Math.max(0, from), to + 1);
          assert.deepEqual(seqs, seqs.map((_, i) => seqs[0]! + i), `${name}: no sequence number missing (polls across the hole: ${JSON.stringify(across.slice(0, 60))})`);
        }
        assert.deepEqual([...watch.renditions.get('source')!.gaps], [], 'the source has no gap');
      },
      close,
    };
    return live;
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
}
