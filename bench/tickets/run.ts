// bench/tickets: tickets verified per second by the transcoder's full check path (header decode, parameter
// HMAC, hash, EIP-191 digest, signature recovery, nonce and value checks, win draw) against raw
// @noble/curves public-key recovery of the same signatures, in the same run. Prints full/raw.
// Usage: npm run bench:tickets [-- --tickets 3000 --per-payment 1]

import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { concatBytes } from '@noble/hashes/utils.js';
import { PaymentSender } from '../../broadcaster/payment-sender.ts';
import { parseFlags } from '../../cli/options.ts';
import { identityFromPrivateKey } from '../../protocol/identity.ts';
import { decodePayment, ticketOf } from '../../protocol/payment.ts';
import { ticketParamsToJson } from '../../protocol/ticket-params.ts';
import { signingDigest, ticketHash } from '../../protocol/ticket.ts';
import { PaymentReceiver } from '../../transcoder/payment-receiver.ts';
import { RedemptionQueue } from '../../transcoder/redemption-queue.ts';

const { flags } = parseFlags(process.argv.slice(2));
const total = Number(flags.get('tickets') ?? 3000);
const perPayment = Number(flags.get('per-payment') ?? 1);
const rounds = 3;

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

async function fullPath(): Promise<number> {
  const receiver = freshReceiver();
  const start = performance.now();
  for (const h of headers) await receiver.accept(decodePayment(h), BigInt(1_000 * perPayment));
  return total / ((performance.now() - start) / 1000);
}

function rawRecovery(): number {
  const start = performance.now();
  for (const r of raw) secp256k1.recoverPublicKey(r.signature, r.digest, { prehash: false });
  return raw.length / ((performance.now() - start) / 1000);
}

const full: number[] = [];
const baseline: number[] = [];
rawRecovery();
await fullPath(); // warm up both paths
for (let i = 0; i < rounds; i++) {
  baseline.push(rawRecovery());
  full.push(await fullPath());
  console.log(`round ${i + 1}: raw recovery ${baseline.at(-1)!.toFixed(0)}/s, full check ${full.at(-1)!.toFixed(0)}/s`);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`\n${total} tickets, ${perPayment} per payment, ${rounds} rounds`);
console.log(`raw @noble/curves recovery  median ${median(baseline).toFixed(0)} tickets/s`);
console.log(`transcoder full check path  median ${median(full).toFixed(0)} tickets/s`);
console.log(`full/raw ratio: ${(median(full) / median(baseline)).toFixed(3)} (target ≥ 0.9)`);
