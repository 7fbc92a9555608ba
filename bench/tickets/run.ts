// bench/tickets: tickets verified per second by the transcoder's full check path (header decode, parameter
// HMAC, hash, EIP-191 digest, signature recovery, nonce and value checks, win draw) against raw
// @noble/curves public-key recovery of the same signatures, in the same run. Prints full/raw, after checking
// that every raw recovery yields the sender's address and that the full path accepted every ticket.
// Usage: npm run bench:tickets [-- --tickets 3000 --per-payment 1 --rounds 3]

import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { concatBytes } from '@noble/hashes/utils.js';
import { PaymentSender } from '../../broadcaster/payment-sender.ts';
import { parseFlags } from '../../cli/options.ts';
import { addressOfPublicKey, identityFromPrivateKey } from '../../protocol/identity.ts';
import { decodePayment, ticketOf } from '../../protocol/payment.ts';
import { ticketParamsToJson } from '../../protocol/ticket-params.ts';
import { signingDigest, ticketHash } from '../../protocol/ticket.ts';
import { PaymentReceiver } from '../../settlement/payment-receiver.ts';
import { RedemptionQueue } from '../../settlement/redemption-queue.ts';
import { median, runBench } from '../support/report.ts';

const { flags } = parseFlags(process.argv.slice(2));
const total = Number(flags.get('tickets') ?? 3000);
const perPayment = Number(flags.get('per-payment') ?? 1);
const rounds = Number(flags.get('rounds') ?? 3);

const recipient = identityFromPrivateKey(randomBytes(32));
const sender = identityFromPrivateKey(randomBytes(32));
// A ticket worth 1,000 wei at a 1-in-a-million win chance: winners (and their sqlite writes) are as rare as in production.
const terms = { pricePerPixel: 1n, faceValue: 1_000_000_000n, ticketEv: 1_000n, ticketTtlMs: 3_600_000 };

function freshReceiver() {
  return new PaymentReceiver({ identity: recipient, terms, funds: async () => 10n ** 18n, queue: new RedemptionQueue(':memory:'), secret: new Uint8Array(32).fill(7) });
}

// Signed up front: the bench measures verification only.
const issuer = freshReceiver();
const payer = new PaymentSender({ identity: sender, maxPricePerPixel: 1n, ticketParams: async (_url, who) => ticketParamsToJson(issuer.ticketParams(who)) });
const headers: string[] = [];
for (let i = 0; i < total / perPayment; i++) {
  const signed = await payer.pay('bench', BigInt(1_000 * perPayment));
  headers.push(signed!.header);
}
const decoded = headers.map((h) => decodePayment(h));
const raw = decoded.flatMap((p) =>
  p.tickets.map((t) => ({
    signature: concatBytes(new Uint8Array([t.signature[64]! - 27]), t.signature.subarray(0, 64)),
    digest: signingDigest(ticketHash(ticketOf(p, t.senderNonce))),
  })),
);

/** Tickets per second, and how many the receiver accepted (it throws on any it refuses). */
async function fullPath(): Promise<{ perSec: number; accepted: number }> {
  const receiver = freshReceiver();
  let accepted = 0;
  const start = performance.now();
  for (const h of headers) accepted += (await receiver.accept(decodePayment(h), BigInt(1_000 * perPayment))).tickets;
  return { perSec: accepted / ((performance.now() - start) / 1000), accepted };
}

function rawRecovery(): number {
  const start = performance.now();
  for (const r of raw) secp256k1.recoverPublicKey(r.signature, r.digest, { prehash: false });
  return raw.length / ((performance.now() - start) / 1000);
}

process.exit(
  await runBench('tickets', { tickets: total, perPayment, rounds, payments: headers.length }, async (bench) => {
    bench.check(raw.length === total, `${headers.length} payments decode to ${raw.length} tickets`, `${headers.length} payments decode to ${raw.length} tickets, not ${total}`);
    // Outside the timed loop: the raw baseline recovers the real signer, so it does the same work as the full path.
    const wrong = raw.filter((r) => addressOfPublicKey(secp256k1.recoverPublicKey(r.signature, r.digest, { prehash: false })) !== sender.address).length;
    bench.check(wrong === 0, `raw recovery: ${raw.length}/${raw.length} signatures recover the sender's address`, `raw recovery: ${wrong} of ${raw.length} signatures recover another address`);
    const full: number[] = [];
    const baseline: number[] = [];
    rawRecovery();
    await fullPath(); // warm up both paths
    for (let i = 0; i < rounds; i++) {
      baseline.push(rawRecovery());
      const round = await fullPath();
      bench.check(round.accepted === total, `round ${i + 1}: full check path accepted ${round.accepted}/${total} tickets`, `round ${i + 1}: full check path accepted ${round.accepted} of ${total} tickets`);
      full.push(round.perSec);
      bench.figure(`round ${i + 1}: raw recovery ${baseline.at(-1)!.toFixed(0)}/s, full check ${full.at(-1)!.toFixed(0)}/s`);
    }
    bench.figure(`\n${total} tickets, ${perPayment} per payment, ${rounds} rounds`);
    bench.figure(`raw @noble/curves recovery  median ${median(baseline).toFixed(0)} tickets/s`);
    bench.figure(`transcoder full check path  median ${median(full).toFixed(0)} tickets/s`);
    bench.figure(`full/raw ratio: ${(median(full) / median(baseline)).toFixed(3)} (target ≥ 0.9)`);
  }),
);
