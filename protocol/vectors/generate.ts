// Writes tickets.json: ticket hashes, signed-message digests, signatures and win results for fixed keys
// and fields. Run `node protocol/vectors/generate.ts` after a deliberate change to the ticket format; the
// tests check the code against the committed file and against ethers.js, an independent implementation.

import { writeFileSync } from 'node:fs';
import { hexToBytes } from '@noble/hashes/utils.js';
import { identityFromPrivateKey } from '../identity.ts';
import { MAX_WIN_PROB, isWinningTicket, signTicket, signingDigest, ticketHash, toHex, type Ticket } from '../ticket.ts';
import { ticketToJson } from '../redemption.ts';

const privateKey = '0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318';
const sender = identityFromPrivateKey(hexToBytes(privateKey.slice(2)));
const cases: Array<{ name: string; ticket: Ticket; recipientRand: string }> = [
  {
    name: 'no creation round: auxData empty',
    ticket: { recipient: `0x${'11'.repeat(20)}`, sender: sender.address, faceValue: 1_000_000_000n, winProb: MAX_WIN_PROB / 10n, senderNonce: 0, recipientRandHash: `0x${'ab'.repeat(32)}`, creationRound: 0n, creationRoundBlockHash: `0x${'00'.repeat(32)}` },
    recipientRand: `0x${'01'.repeat(32)}`,
  },
  {
    name: 'with creation round and block hash',
    ticket: { recipient: `0x${'22'.repeat(20)}`, sender: sender.address, faceValue: 10n ** 18n, winProb: MAX_WIN_PROB / 2n, senderNonce: 42, recipientRandHash: `0x${'cd'.repeat(32)}`, creationRound: 3210n, creationRoundBlockHash: `0x${'9f'.repeat(32)}` },
    recipientRand: `0x${'02'.repeat(32)}`,
  },
  {
    name: 'sure win (winProb = 2^256 - 1)',
    ticket: { recipient: `0x${'33'.repeat(20)}`, sender: sender.address, faceValue: 1n, winProb: MAX_WIN_PROB, senderNonce: 4294967295, recipientRandHash: `0x${'ef'.repeat(32)}`, creationRound: 0n, creationRoundBlockHash: `0x${'00'.repeat(32)}` },
    recipientRand: `0x${'03'.repeat(32)}`,
  },
  {
    name: 'sure loss (winProb = 0)',
    ticket: { recipient: `0x${'44'.repeat(20)}`, sender: sender.address, faceValue: 5n, winProb: 0n, senderNonce: 7, recipientRandHash: `0x${'12'.repeat(32)}`, creationRound: 0n, creationRoundBlockHash: `0x${'00'.repeat(32)}` },
    recipientRand: `0x${'04'.repeat(32)}`,
  },
];

const vectors = {
  description: 'Castnet ticket vectors: hash = keccak256(recipient ‖ sender ‖ faceValue ‖ winProb ‖ senderNonce ‖ recipientRandHash ‖ auxData), digest = EIP-191 of the hash, signature r ‖ s ‖ v, win = keccak256(signature ‖ recipientRand) < winProb',
  privateKey,
  sender: sender.address,
  cases: cases.map((c) => {
    const hash = ticketHash(c.ticket);
    const signature = signTicket(c.ticket, sender.privateKey);
    return {
      name: c.name,
      ticket: ticketToJson(c.ticket),
      hash: toHex(hash),
      digest: toHex(signingDigest(hash)),
      signature: toHex(signature),
      recipientRand: c.recipientRand,
      wins: isWinningTicket(signature, hexToBytes(c.recipientRand.slice(2)), c.ticket.winProb),
    };
  }),
};
writeFileSync(new URL('./tickets.json', import.meta.url), `${JSON.stringify(vectors, null, 2)}\n`);
console.log(`wrote ${vectors.cases.length} ticket vectors`);
