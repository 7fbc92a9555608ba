// The order of a paid segment's way through the transcoder: tickets verified before the segment is parsed,
// a slot reserved before the payment is taken. Real payment receiver and sender, a segment built in code,
// a ladder runner the test holds, and the probe counted where the service calls it.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { describe, it } from 'vitest';
import { PaymentSender } from '../broadcaster/payment-sender.ts';
import { BitWriter, nalUnit, syntheticSegment } from '../media/synthetic-segment.ts';
import { probeTs } from '../media/ts-probe.ts';
import { identityFromPrivateKey } from '../protocol/identity.ts';
import { outputPixels } from '../protocol/pricing.ts';
import { fitLadder } from '../protocol/rendition.ts';
import { ticketParamsToJson } from '../protocol/ticket-params.ts';
import { AdmissionQueue } from './admission-queue.ts';
import { PaymentReceiver } from '../settlement/payment-receiver.ts';
import { RedemptionQueue } from '../settlement/redemption-queue.ts';
import type { LadderRunner } from './segment-transcoder.ts';
import { TranscodeService } from './transcode-service.ts';
import { TranscoderEventBus } from './transcoder-events.ts';

const segment = syntheticSegment({ frames: 30 });
const ladder = fitLadder({ width: 640, height: 360, fps: 30 });
const params = (seq: number) => ({ playbackId: 'pay1', seq, renditions: ladder, sourceFps: 30, sourceAudio: 'aac' });
/** A valid TS stream whose SPS claims a 2^32 − 2 entry POC cycle. */
const bomb = syntheticSegment({ frames: 3, sps: nalUnit(7, new BitWriter().u(8, 66).u(8, 0).u(8, 30).ue(0).ue(0).ue(1).u(1, 0).se(0).se(0).ue(2 ** 32 - 2).ones(1 << 16).bytes()) });

/** A runner that holds each job until the test lets it go, then writes every rendition. */
function heldRunner() {
  const held: Array<() => void> = [];
  const arrivals: Array<() => void> = [];
  const runner: LadderRunner = async (job) => {
    await new Promise<void>((resolve) => {
      held.push(resolve);
      arrivals.shift()?.();
    });
    for (const r of job.renditions) await writeFile(job.outputs[r.name]!, Buffer.from(r.name));
  };
  const next = async (): Promise<() => void> => {
    if (held.length === 0) await new Promise<void>((resolve) => arrivals.push(resolve));
    return held.shift()!;
  };
  return { runner, next };
}

function setup(options: { runner?: LadderRunner; concurrency?: number; maxQueued?: number } = {}) {
  const recipient = identityFromPrivateKey(randomBytes(32));
  const sender = identityFromPrivateKey(randomBytes(32));
  // Tickets that never win, so a win (which spends the parameters) cannot stand in for what is tested.
  const payments = new PaymentReceiver({ identity: recipient, terms: { pricePerPixel: 1n, faceValue: 10n ** 18n, ticketEv: 10n ** 9n, ticketTtlMs: 60_000 }, funds: async () => 10n ** 20n, queue: new RedemptionQueue(':memory:') });
  const payer = new PaymentSender({ identity: sender, maxPricePerPixel: 1n, ticketParams: async (_url, who) => ticketParamsToJson(payments.ticketParams(who)) });
  let probes = 0;
  const events = new TranscoderEventBus();
  const refusals: string[] = [];
  events.on('paymentRefused', (e) => refusals.push(e.reason));
  const service = new TranscodeService({
    encoder: 'libx264',
    payments,
    admission: new AdmissionQueue({ concurrency: options.concurrency ?? 1, maxQueued: options.maxQueued ?? 0 }),
    runner: options.runner ?? heldRunner().runner,
    events,
    probe: (bytes) => (probes++, probeTs(bytes)),
  });
  return {
    service,
    refusals,
    probes: () => probes,
    /** A payment header covering `segment`'s price, as the broadcaster computes it. */
    header: async () => (await payer.pay('http://transcoder.test', outputPixels(ladder, probeTs(segment))))!.header,
  };
}

describe('transcode service payment order', () => {
  it('answers 503 at capacity without spending the tickets: the same payment is accepted once a slot frees', async () => {
    const held = heldRunner();
    const t = setup({ runner: held.runner, concurrency: 1, maxQueued: 0 });
    const first = t.service.transcode(params(0), segment, await t.header());
    const releaseFirst = await held.next();
    const payment = await t.header();
    const probesBefore = t.probes();
    await assert.rejects(t.service.transcode(params(1), segment, payment), { code: 'NO_NODE_AVAILABLE' });
    assert.equal(t.probes(), probesBefore, 'a full node does not parse the segment');
    releaseFirst();
    await first;
    // Retried with the very same header: its nonces were never spent.
    const retried = t.service.transcode(params(1), segment, payment);
    (await held.next())();
    assert.equal((await retried).chunks.length > 0, true);
    assert.deepEqual(t.refusals, []);
  });

  it('refuses an unpaid request with a parser-bomb body 402 without probing it', async () => {
    const t = setup();
    await assert.rejects(t.service.transcode(params(0), bomb, undefined), { code: 'PAYMENT_REQUIRED', context: { reason: 'missing' } });
    assert.equal(t.probes(), 0);
    assert.deepEqual(t.refusals, ['missing']);
  });

  it('refuses a forged payment with a parser-bomb body 402 without probing it', async () => {
    const t = setup();
    const other = setup();
    // Tickets signed for another transcoder: recipient and parameters do not check out here.
    await assert.rejects(t.service.transcode(params(0), bomb, await other.header()), { code: 'PAYMENT_REQUIRED', context: { reason: 'wrong_recipient' } });
    assert.equal(t.probes(), 0);
  });

  it('refuses a paid bomb 422 after the tickets check out, and leaves the payment unspent', async () => {
    const held = heldRunner();
    const t = setup({ runner: held.runner });
    const payment = await t.header();
    await assert.rejects(t.service.transcode(params(0), bomb, payment), { code: 'INVALID_SEGMENT', message: /num_ref_frames_in_pic_order_cnt_cycle/ });
    assert.equal(t.probes(), 1);
    const answer = t.service.transcode(params(0), segment, payment);
    (await held.next())();
    assert.ok((await answer).length > 0);
  });

  it('takes no payment from a sender that gave up while queued', async () => {
    const held = heldRunner();
    const t = setup({ runner: held.runner, concurrency: 1, maxQueued: 1 });
    const first = t.service.transcode(params(0), segment, await t.header());
    const releaseFirst = await held.next();
    const payment = await t.header();
    const gaveUp = new AbortController();
    const queued = t.service.transcode(params(1), segment, payment, gaveUp.signal);
    gaveUp.abort();
    await assert.rejects(queued, { code: 'UNAVAILABLE' });
    releaseFirst();
    await first;
    const retried = t.service.transcode(params(1), segment, payment);
    (await held.next())();
    assert.ok((await retried).length > 0);
  });
});
