// The delivery payer across a restart, on a real SQLite file: a new payer on the same file is the
// broadcaster after a restart with the same data directory.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'vitest';
import { randomIdentity } from '../protocol/identity.ts';
import { signReceipt, type SignedCertificate } from '../protocol/delivery-receipt.ts';
import { decodePayment } from '../protocol/payment.ts';
import { TicketParamsIssuer } from '../protocol/ticket-params.ts';
import { MAX_WIN_PROB } from '../protocol/ticket.ts';
import { DeliveryPayer } from './delivery-payer.ts';
import { DeliveryStore } from './delivery-store.ts';

const SEGMENT = 250_000;

describe('delivery payer across a restart', () => {
  const dirs: string[] = [];
  const stores: DeliveryStore[] = [];
  afterEach(() => {
    for (const s of stores.splice(0)) s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function world() {
    const dir = mkdtempSync(join(tmpdir(), 'castnet-delivery-store-'));
    dirs.push(dir);
    const file = join(dir, 'delivery.sqlite');
    let now = 100_000;
    const payerId = randomIdentity();
    const start = () => {
      const store = new DeliveryStore(file);
      stores.push(store);
      return { store, payer: new DeliveryPayer({ identity: payerId, maxPricePerByte: 10n, maxFaceValue: 10n ** 18n, sessionTtlMs: 600_000, sessionBytes: 40 * SEGMENT, now: () => now, store }) };
    };
    const relay = randomIdentity();
    const issuer = new TicketParamsIssuer(relay.address);
    // Tickets of 100,000 wei at price 2: each claim of a few hundred kB pays several, so nonces matter.
    const params = issuer.issue(payerId.address, { faceValue: 100_000n, winProb: MAX_WIN_PROB, pricePerPixel: 2n, ttlMs: 3_600_000, now });
    const viewer = randomIdentity();
    const receipt = (bytes: number, certificate: SignedCertificate, sequence: number) =>
      signReceipt({ session: viewer.address, playbackId: 'show', relay: relay.address, bytes, rendition: '720p', sequence, at: now }, viewer.privateKey, certificate);
    return { file, start, relay, params, viewer, receipt, advance: (ms: number) => (now += ms) };
  }

  it('accepts receipts of a session certified before the restart, credits only bytes past what it paid, refuses the old receipt as a replay, and never signs a nonce twice', async () => {
    const w = world();
    let { store, payer } = w.start();
    payer.open('show');
    for (const seq of [0, 1, 2, 3]) payer.published('show', '720p', seq, SEGMENT, 2);
    const certificate = payer.issueSession('show', w.viewer.address);
    w.advance(4_000);
    const before = await payer.claim(w.relay.address, { playbackId: 'show', ticketParams: w.params, receipts: [w.receipt(300_000, certificate, 1)] });
    assert.equal(before.results[0]!.credited, 300_000);
    const firstNonces = decodePayment(before.payment!).tickets.map((t) => t.senderNonce);
    assert.equal(firstNonces.length, 6);

    // The broadcaster restarts on the same data directory.
    store.close();
    ({ store, payer } = w.start());
    assert.deepEqual(payer.streamIds(), ['show']);
    payer.open('show');
    payer.published('show', '720p', 4, SEGMENT, 2);
    w.advance(4_000);

    // The same receipt again: nothing new to pay.
    const replay = await payer.claim(w.relay.address, { playbackId: 'show', ticketParams: w.params, receipts: [w.receipt(300_000, certificate, 1)] });
    assert.deepEqual(replay.results, [{ session: w.viewer.address, credited: 0, reason: 'replayed' }]);
    assert.equal(replay.payment, null);
    // The player's next receipt, on its old certificate: only the new bytes, with nonces after the old ones.
    const after = await payer.claim(w.relay.address, { playbackId: 'show', ticketParams: w.params, receipts: [w.receipt(500_000, certificate, 4)] });
    assert.deepEqual(after.results, [{ session: w.viewer.address, credited: 200_000 }]);
    assert.equal(after.owedWei, '1000000');
    assert.equal(after.paidWei, '1000000');
    const laterNonces = decodePayment(after.payment!).tickets.map((t) => t.senderNonce);
    assert.equal(laterNonces.length, 4);
    assert.ok(Math.min(...laterNonces) > Math.max(...firstNonces), `nonces ${laterNonces} after ${firstNonces}`);
    // The session's start and budget came back too: asking again keeps the original certificate's times.
    assert.equal(payer.issueSession('show', w.viewer.address).certificate.issuedAt, certificate.certificate.issuedAt);
  });

  it('forgets a closed stream on disk too, and keeps its file private (0600)', async () => {
    const w = world();
    let { store, payer } = w.start();
    payer.open('show');
    payer.published('show', '720p', 0, SEGMENT, 2);
    payer.issueSession('show', w.viewer.address);
    payer.close('show');
    store.close();
    ({ store, payer } = w.start());
    assert.deepEqual(payer.streamIds(), []);
    assert.throws(() => payer.issueSession('show', w.viewer.address), /publishes no such stream/);
    assert.equal(statSync(w.file).mode & 0o777, 0o600);
  });
});
