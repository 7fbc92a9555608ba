// Streaming with payments settled on a real anvil chain (one block a second, as a public chain mines):
// the broker's events account for every ticket sent, a transcoder killed with -9 between winning and
// redeeming redeems each winner exactly once after its restart, a transcoder is paid while the
// orchestrator is down (nothing of the money path goes through it), and a relay is paid for delivery on
// chain: its viewers' receipts, claimed from the broadcaster, redeemed at the broker.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { runWallet } from '../cli/wallet.ts';
import { launchChromium, samplePlayer, type PlaybackSample } from './support/browser.ts';
import { startDevChain, type DevChain } from '../settlement/dev-chain.ts';
import { getText, metric, publish, reapTempDir, spawnNode, startNetwork, stopAll, streamPaidSegments, waitFor, within, type NodeProcess, type Publisher, type TestNetwork } from './support/network.ts';

const FACE_VALUE = 10_000_000n;
const DEPOSIT = 10n ** 18n;

describe('settlement on chain', () => {
  let chain: DevChain;
  let net: TestNetwork | undefined;
  const publishers: Publisher[] = [];
  const processes: NodeProcess[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    chain = await startDevChain({ blockTimeSeconds: 1 });
  });

  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.kill()));
    await stopAll(publishers, net);
    net = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  afterAll(async () => {
    await chain?.stop();
  });

  /** Redemption events for `recipient`, as the chain holds them. */
  async function redeemedTo(recipient: string) {
    return (await chain.client().redemptionLogs({ recipient })).filter((e) => e.outcome === 'redeemed');
  }

  it("streams with payments settled on chain: the broker's events pay the transcoder and spend the deposit, N × price within one ticket per segment", async () => {
    // Every ticket wins (ticketEv = faceValue), so the chain's totals are exact, not just in expectation.
    net = await startNetwork({}, { pricePerPixel: 1n, ticketFaceValue: FACE_VALUE, ticketEv: FACE_VALUE }, DEPOSIT, { chain });
    // Redeemed means mined and confirmed: the transcoder counts a winner only once its blocks hold it.
    const { tickets, segments, price } = await streamPaidSegments(net, 'on-chain', publishers, 30_000);
    const broadcaster = net.broadcaster.httpUrl;
    const recipient = net.transcoder.payments.recipient;
    const events = await redeemedTo(recipient);
    const paid = events.reduce((sum, e) => sum + (e.outcome === 'redeemed' ? e.paid : 0n), 0n);
    assert.equal(events.length, tickets, 'one redemption event per ticket sent');
    assert.equal(new Set(events.map((e) => e.ticketHash)).size, events.length, 'no ticket redeemed twice');
    // The bound of the ledger's payment test: the price is covered, overpaid by less than one ticket per segment.
    assert.ok(paid >= price, `paid on chain ${paid} covers the price ${price}`);
    assert.ok(paid < price + BigInt(segments) * FACE_VALUE, `overpayment under one ticket per segment (${paid - price} over ${segments} segments)`);
    assert.equal(paid, BigInt(tickets) * FACE_VALUE);
    assert.equal(await metric(broadcaster, /^castnet_broadcaster_payments_refused_total/), 0);

    const reader = chain.client();
    assert.equal((await reader.sender(net.broadcaster.paymentAddress)).deposit, DEPOSIT - paid, "the broadcaster's deposit went down by what was paid");
    assert.deepEqual(await reader.recipient(recipient), { earned: paid, withdrawn: 0n });
    assert.ok(events.every((e) => e.sender === net!.broadcaster.paymentAddress));
    // The orchestrator shows the same earnings, read from the broker's events, and holds no ledger.
    await waitFor('the orchestrator to read the events', async () => {
      const nodes = JSON.parse((await getText(`${net!.orchestrator.url}/api/nodes`)).text) as Array<{ role: string; earned: string }>;
      return nodes.find((n) => n.role === 'transcoder')?.earned === paid.toString();
    }, 10_000);
    assert.equal((await getText(`${net.orchestrator.url}/api/ledger/accounts`)).status, 404);
    assert.deepEqual(
      (({ mode, broker, chainRpc }) => ({ mode, broker, chainRpc }))(JSON.parse((await getText(`${net.orchestrator.url}/api/settlement`)).text) as Record<string, string>),
      { mode: 'chain', broker: chain.broker, chainRpc: chain.rpcUrl },
    );
    assert.equal(net.orchestrator.ledger, null);
  });

  it('redeems each winner exactly once after the transcoder is killed with -9 between winning and redeeming', async () => {
    net = await startNetwork({}, {}, DEPOSIT, { chain, transcoder: false });
    const dataDir = mkdtempSync(join(tmpdir(), 'castnet-chain-transcoder-'));
    dirs.push(dataDir);
    const args = ['--orchestrator', net.orchestrator.url, '--data-dir', dataDir, '--encoder', 'libx264', '--settlement', 'chain', '--chain-rpc', chain.rpcUrl, '--broker', chain.broker];
    const paid = ['--price-per-pixel', '1', '--ticket-face-value', String(FACE_VALUE), '--ticket-ev', String(FACE_VALUE)];
    // Winners wait in the queue: the first redemption round runs at start, the next in ten minutes.
    const first = await spawnNode('transcoder', ['--http-port', '0', ...args, ...paid, '--redeem-interval-ms', '600000']);
    processes.push(first);
    const recipient = (JSON.parse((await getText(`${first.url}/healthz`)).text) as { paymentAddress: string }).paymentAddress;
    await chain.sendEth(recipient, 10n ** 18n);
    await waitFor('the transcoder registered', async () => (JSON.parse((await getText(`${net!.orchestrator.url}/api/nodes`)).text) as Array<{ role: string }>).some((n) => n.role === 'transcoder'));
    const p = publish(`${net.broadcaster.rtmpUrl}/killed`, { seconds: 6 });
    publishers.push(p);
    await waitFor('winners queued, not yet redeemed', async () => (await metric(first.url, /^castnet_transcoder_winning_tickets_queued\{status="pending"[,}]/)) >= 3, 30_000);
    await first.kill('SIGKILL');
    processes.splice(processes.indexOf(first), 1);
    await p.stop();

    const file = join(dataDir, `transcoder-redemptions-${chain.broker}.sqlite`);
    const db = new DatabaseSync(file);
    const queued = (db.prepare("SELECT ticket_hash FROM winners WHERE status = 'pending'").all() as Array<{ ticket_hash: string }>).map((r) => r.ticket_hash);
    db.close();
    assert.ok(queued.length >= 3, `${queued.length} winners survived the kill`);
    assert.deepEqual(await redeemedTo(recipient), [], 'none was redeemed before the kill');

    const second = await spawnNode('transcoder', ['--http-port', '0', ...args, ...paid]);
    processes.push(second);
    await waitFor('every queued winner redeemed on chain', async () => {
      const hashes = new Set((await redeemedTo(recipient)).map((e) => e.ticketHash));
      return queued.every((h) => hashes.has(h as `0x${string}`));
    }, 30_000);
    await waitFor('the restarted transcoder to count them paid', async () => (await metric(second.url, /^castnet_transcoder_winning_tickets_queued\{status="redeemed"[,}]/)) >= queued.length, 15_000);
    const events = await chain.client().redemptionLogs({ recipient });
    for (const hash of queued) assert.equal(events.filter((e) => e.ticketHash === hash).length, 1, `${hash} redeemed exactly once, and never refused`);
    assert.equal(await metric(second.url, /^castnet_transcoder_winning_tickets_queued\{status="failed"[,}]/), 0);
  });

  it('pays a transcoder while the orchestrator is down', async () => {
    net = await startNetwork({}, { pricePerPixel: 1n, ticketFaceValue: FACE_VALUE, ticketEv: FACE_VALUE }, DEPOSIT, { chain });
    const recipient = net.transcoder.payments.recipient;
    const p = publish(`${net.broadcaster.rtmpUrl}/no-orchestrator`, { seconds: 30 });
    publishers.push(p);
    await waitFor('a first redemption on chain', async () => (await redeemedTo(recipient)).length >= 1, 30_000);
    await net.orchestrator.stop();
    const stoppedAt = await chain.client().blockNumber();
    await assert.rejects(getText(`${net.orchestrator.url}/healthz`), 'the orchestrator is down');
    // Segments keep flowing to the assigned transcoder, which checks funds on chain and redeems there.
    await waitFor('winners won after the orchestrator stopped to be redeemed', async () => (await redeemedTo(recipient)).filter((e) => e.blockNumber > stoppedAt + 2n).length >= 3, 30_000);
    assert.equal(await metric(net.transcoder.url, /^castnet_transcoder_payments_refused_total/), 0, 'no payment was refused for want of the orchestrator');
    // The test network's close stops the orchestrator again; it is already stopped.
  });

  it('pays a relay for delivery on chain: the broker redeems the tickets its viewers\' receipts earned, bytes × price within one ticket', async () => {
    const DELIVERY_FACE = 100_000n;
    const PRICE = 2n;
    net = await startNetwork({ maxPricePerByte: 10n }, {}, DEPOSIT, {
      chain,
      relayOptions: { settlement: 'chain', chainRpc: chain.rpcUrl, broker: chain.broker, pricePerByte: PRICE, deliveryTicketFaceValue: DELIVERY_FACE, deliveryTicketEv: DELIVERY_FACE, claimIntervalMs: 1_000 },
    });
    const relay = net.relay;
    // The relay pays gas for its redemptions.
    await chain.sendEth(relay.paymentAddress, 10n ** 18n);
    const p = publish(`${net.broadcaster.rtmpUrl}/delivered-on-chain`, { seconds: 14 });
    publishers.push(p);
    const playbackId = net.broadcaster.keys.resolve('delivered-on-chain');
    await waitFor('segments on the relay', async () => ((await getText(`${relay.url}/hls/${playbackId}/source/index.m3u8`)).text.match(/\.ts$/gm) ?? []).length >= 2, 30_000);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${relay.url}/watch/${playbackId}`);
      await waitFor('playback', async () => (((await page.evaluate(samplePlayer)) as PlaybackSample | null)?.currentTime ?? 0) > 4, 60_000, 200);
      await p.exited;
      await page.evaluate(`(() => { const el = document.querySelector('castnet-player'); window.__player = el; el.remove(); })()`);
      const bytes = await waitFor('the last receipt acknowledged', async () => {
        const s = (await page.evaluate('JSON.parse(JSON.stringify(window.__player.delivery))')) as { relays: Record<string, { bytes: number; sent: number }> } | null;
        const r = s?.relays[new URL(relay.url).origin];
        return r && r.bytes > 0 && r.sent === r.bytes ? r.bytes : undefined;
      }, 20_000, 100);
      const f = await waitFor('every receipt claimed', () => {
        const x = relay.earnings.figures(playbackId);
        // Paid too: a payment the relay could not check at once (its view of the deposit behind) is taken a round later.
        return x && x.pending === 0 && x.receiptBytes === bytes && x.paidWei >= x.owedWei ? x : undefined;
      }, 30_000, 100);
      assert.equal(f.owedWei, BigInt(bytes) * PRICE, 'credited exactly the bytes of the newest receipt, at the relay’s price');
      assert.ok(f.paidWei >= f.owedWei && f.paidWei - f.owedWei < DELIVERY_FACE, `paid ${f.paidWei} for ${f.owedWei} owed: within one ticket`);
      // Every ticket wins: the broker's events pay the relay exactly what the tickets were worth, each once.
      const events = await waitFor('the delivery tickets redeemed on chain', async () => {
        const e = await redeemedTo(relay.paymentAddress);
        return e.reduce((sum, x) => sum + x.paid, 0n) === f.paidWei ? e : undefined;
      }, 60_000, 500);
      assert.equal(new Set(events.map((e) => e.ticketHash)).size, events.length, 'no ticket redeemed twice');
      assert.ok(events.every((e) => e.sender === net!.broadcaster.paymentAddress), 'paid from the broadcaster’s deposit');
      assert.deepEqual(await chain.client().recipient(relay.paymentAddress), { earned: f.paidWei, withdrawn: 0n });
    } finally {
      await browser.close();
    }
  });
});

describe('castnet dev --settlement chain', () => {
  it('starts anvil with the broker, funds the broadcaster on chain, pays for the demo stream there, and stops the chain with it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'castnet-dev-chain-'));
    const tmp = join(dataDir, 'tmp');
    mkdirSync(tmp);
    let stdout = '';
    const dev = spawn(process.execPath, ['bin/castnet.js', 'dev', '--settlement', 'chain', '--rtmp-port', '0', '--http-port', '0', '--orchestrator-port', '0', '--data-dir', dataDir, '--encoder', 'libx264'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TMPDIR: tmp },
    });
    dev.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    dev.stderr!.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise((r) => dev.once('exit', r));
    try {
      await waitFor('the dev network banner', () => stdout.includes('Press Ctrl-C') || dev.exitCode !== null, 60_000);
      assert.match(stdout, /Chain\s+anvil http:\/\/127\.0\.0\.1:\d+ \(chain 31337\)/, stdout);
      assert.match(stdout, /on chain: TicketBroker 0x[0-9a-f]{40}/);
      assert.match(stdout, /deposit 1000000000000000000 wei, reserve 100000000000000000 wei/);
      const rpc = /anvil (http:\/\/\S+)/.exec(stdout)![1]!;
      // castnet wallet finds the dev chain through the data directory and reads balances there.
      let text = '';
      await waitFor(
        'the demo stream to pay the transcoder on chain',
        async () => {
          text = '';
          await runWallet(['--data-dir', dataDir, '--settlement', 'chain'], (s) => (text += s));
          const earned = /transcoder[^\n]*\n\s+earned\s+\S+ ETH \((\d+) wei\)/.exec(text);
          return earned !== null && BigInt(earned[1]!) > 0n;
        },
        // A winning ticket redeemed on chain: its chance per segment is the ticket's win probability, and a
        // loaded machine transcodes fewer segments (the full ladder beside thumbnails and recording).
        180_000,
        1_000,
      );
      assert.match(text, /^on chain: TicketBroker 0x[0-9a-f]{40} on the chain at http/m);
      const deposit = BigInt(/broadcaster[^\n]*\n\s+deposit\s+\S+ ETH \((\d+) wei\)/.exec(text)![1]!);
      assert.ok(deposit < 10n ** 18n, `the broadcaster's deposit went down (${deposit})`);
      assert.match(text, /gas \(ETH\)/);
      dev.kill('SIGTERM');
      await within('castnet dev to stop on SIGTERM', exited, 20_000);
      await assert.rejects(fetch(rpc, { method: 'POST', body: '{}', signal: AbortSignal.timeout(2_000) }), 'anvil stopped with the network');
    } finally {
      if (dev.exitCode === null && dev.signalCode === null) dev.kill('SIGKILL');
      await reapTempDir(tmp);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
