// Tickets against the committed vectors, against ethers.js (an independent Ethereum implementation), and
// statistically against their promised win rate and expected value.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { Wallet, solidityPacked, solidityPackedKeccak256, verifyMessage } from 'ethers';
import { hexToBytes } from '@noble/hashes/utils.js';
import { identityFromPrivateKey } from './identity.ts';
import { ticketJsonSchema } from './redemption.ts';
import { MAX_WIN_PROB, expectedValue, fromHex, isSignedBy, isWinningTicket, recoverSigner, signTicket, signingDigest, ticketHash, toHex } from './ticket.ts';

const vectors = JSON.parse(readFileSync(new URL('./vectors/tickets.json', import.meta.url), 'utf8')) as {
  privateKey: string;
  sender: string;
  cases: Array<{ name: string; ticket: unknown; hash: string; digest: string; signature: string; recipientRand: string; wins: boolean }>;
};
const key = hexToBytes(vectors.privateKey.slice(2));
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

describe('tickets', () => {
  for (const v of vectors.cases) {
    it(`matches the vector "${v.name}": hash, digest, signature, recovery and win`, () => {
      const ticket = ticketJsonSchema.parse(v.ticket);
      const hash = ticketHash(ticket);
      assert.equal(toHex(hash), v.hash);
      assert.equal(toHex(signingDigest(hash)), v.digest);
      const signature = signTicket(ticket, key);
      assert.equal(toHex(signature), v.signature);
      assert.equal(recoverSigner(hash, signature), vectors.sender);
      assert.equal(isWinningTicket(signature, fromHex(v.recipientRand, 32), ticket.winProb), v.wins);
    });

    it(`agrees with ethers.js on the vector "${v.name}"`, async () => {
      const t = ticketJsonSchema.parse(v.ticket);
      const aux = t.creationRound === 0n && /^0x0+$/.test(t.creationRoundBlockHash) ? '0x' : solidityPacked(['uint256', 'bytes32'], [t.creationRound, t.creationRoundBlockHash]);
      const hash = solidityPackedKeccak256(
        ['address', 'address', 'uint256', 'uint256', 'uint256', 'bytes32', 'bytes'],
        [t.recipient, t.sender, t.faceValue, t.winProb, t.senderNonce, t.recipientRandHash, aux],
      );
      assert.equal(hash, v.hash);
      const wallet = new Wallet(vectors.privateKey);
      assert.equal(wallet.address.toLowerCase(), vectors.sender);
      assert.equal(await wallet.signMessage(hexToBytes(hash.slice(2))), v.signature);
      assert.equal(verifyMessage(hexToBytes(hash.slice(2)), v.signature).toLowerCase(), vectors.sender);
    });
  }

  it('refuses a malleated (high-s) twin of a valid signature, and a bad recovery byte', () => {
    const ticket = ticketJsonSchema.parse(vectors.cases[0]!.ticket);
    const hash = ticketHash(ticket);
    const signature = signTicket(ticket, key);
    const s = BigInt(toHex(signature.subarray(32, 64)));
    const twin = Uint8Array.from(signature);
    twin.set(hexToBytes((SECP256K1_N - s).toString(16).padStart(64, '0')), 32);
    twin[64] = signature[64] === 27 ? 28 : 27;
    assert.equal(recoverSigner(hash, twin), null);
    assert.equal(isSignedBy(hash, twin, vectors.sender), false);
    const badV = Uint8Array.from(signature);
    badV[64] = 30;
    assert.equal(recoverSigner(hash, badV), null);
    assert.equal(recoverSigner(hash, signature.subarray(0, 64)), null);
  });

  it('checks signatures against a cached sender key with the same verdicts as recovery, v included', () => {
    const sender = identityFromPrivateKey(randomBytes(32));
    const other = identityFromPrivateKey(randomBytes(32));
    for (let nonce = 0; nonce < 20; nonce++) {
      const ticket = { ...ticketJsonSchema.parse(vectors.cases[0]!.ticket), sender: sender.address, senderNonce: nonce };
      const hash = ticketHash(ticket);
      const signature = signTicket(ticket, sender.privateKey);
      assert.equal(isSignedBy(hash, signature, sender.address), true, 'first (recovered) and later (cached key) checks accept');
      const flippedV = Uint8Array.from(signature);
      flippedV[64] = signature[64] === 27 ? 28 : 27;
      assert.equal(isSignedBy(hash, flippedV, sender.address), recoverSigner(hash, flippedV) === sender.address);
      assert.equal(isSignedBy(hash, flippedV, sender.address), false, 'a wrong v would recover another address on-chain');
      assert.equal(isSignedBy(hash, signTicket(ticket, other.privateKey), sender.address), false);
      assert.equal(isSignedBy(ticketHash({ ...ticket, faceValue: 1n }), signature, sender.address), false);
    }
  });

  it('recovers a different signer when any field is changed after signing', () => {
    const ticket = ticketJsonSchema.parse(vectors.cases[1]!.ticket);
    const signature = signTicket(ticket, key);
    assert.notEqual(recoverSigner(ticketHash({ ...ticket, faceValue: ticket.faceValue + 1n }), signature), vectors.sender);
  });

  it('wins at the promised rate and pays its expected value over many tickets (within 4 standard deviations)', () => {
    // 4,000 tickets at winProb 1/4: σ of the win rate = sqrt(p(1-p)/n) ≈ 0.0068, so ±4σ is ±0.027.
    const n = 4_000;
    const p = 0.25;
    const winProb = MAX_WIN_PROB / 4n;
    const faceValue = 1_000_000n;
    const sender = identityFromPrivateKey(randomBytes(32));
    let wins = 0;
    for (let nonce = 0; nonce < n; nonce++) {
      const ticket = { recipient: `0x${'55'.repeat(20)}`, sender: sender.address, faceValue, winProb, senderNonce: nonce, recipientRandHash: `0x${'66'.repeat(32)}`, creationRound: 0n, creationRoundBlockHash: `0x${'00'.repeat(32)}` };
      if (isWinningTicket(signTicket(ticket, sender.privateKey), randomBytes(32), winProb)) wins++;
    }
    const sigma = Math.sqrt((p * (1 - p)) / n);
    assert.ok(Math.abs(wins / n - p) < 4 * sigma, `win rate ${wins / n} vs ${p}`);
    const paid = wins * Number(faceValue);
    const expected = n * expectedValue(faceValue, winProb);
    assert.ok(Math.abs(paid - expected) < 4 * sigma * n * Number(faceValue), `paid ${paid} vs expected ${expected}`);
  });

  it('computes expected value as faceValue × winProb / (2^256 − 1)', () => {
    assert.equal(expectedValue(1000n, MAX_WIN_PROB), 1000);
    assert.ok(Math.abs(expectedValue(1000n, MAX_WIN_PROB / 10n) - 100) < 1e-5);
    assert.equal(expectedValue(1000n, 0n), 0);
  });
});
