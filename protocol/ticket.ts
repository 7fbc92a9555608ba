// Probabilistic micropayment tickets, as Livepeer's `pm` package and TicketBroker define them, so a Castnet
// ticket could be redeemed on-chain: the hash of the fields laid end to end, an Ethereum signed-message
// signature (r ‖ s ‖ v), and the win rule keccak256(signature ‖ recipientRand) < winProb.
// Hot path: every segment's payment is hashed and its signatures recovered.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, concatBytes, hexToBytes } from '@noble/hashes/utils.js';
import { addressOfPublicKey } from './address.ts';

export interface Ticket {
  recipient: string;
  sender: string;
  faceValue: bigint;
  winProb: bigint;
  senderNonce: number;
  recipientRandHash: string;
  creationRound: bigint;
  creationRoundBlockHash: string;
}

/** The largest winProb: a sure win. Expected value = faceValue × winProb / MAX_WIN_PROB. */
export const MAX_WIN_PROB = (1n << 256n) - 1n;
const SECP256K1_HALF_N = secp256k1.Point.CURVE().n >> 1n;
const ZERO_HASH = `0x${'00'.repeat(32)}`;

export function uint256(value: bigint): Uint8Array {
  if (value < 0n || value > MAX_WIN_PROB) throw new RangeError('uint256 out of range');
  return hexToBytes(value.toString(16).padStart(64, '0'));
}

export function fromHex(hex: string, bytes: number): Uint8Array {
  const clean = hex.startsWith('0x') ? hex.slice(2) : hex;
  if (clean.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(clean)) throw new Error(`expected ${bytes} bytes of hex`);
  return hexToBytes(clean);
}

export const toHex = (bytes: Uint8Array) => `0x${bytesToHex(bytes)}`;

/** auxData = creationRound (32) ‖ creationRoundBlockHash (32), empty when both are zero (pm/ticket.go). */
export function auxData(t: Pick<Ticket, 'creationRound' | 'creationRoundBlockHash'>): Uint8Array {
  if (t.creationRound === 0n && (t.creationRoundBlockHash === ZERO_HASH || /^0x0*$/.test(t.creationRoundBlockHash))) return new Uint8Array(0);
  return concatBytes(uint256(t.creationRound), fromHex(t.creationRoundBlockHash, 32));
}

export function ticketHash(t: Ticket): Uint8Array {
  return keccak_256(
    concatBytes(
      fromHex(t.recipient, 20),
      fromHex(t.sender, 20),
      uint256(t.faceValue),
      uint256(t.winProb),
      uint256(BigInt(t.senderNonce)),
      fromHex(t.recipientRandHash, 32),
      auxData(t),
    ),
  );
}

const SIGNED_MESSAGE_PREFIX = new TextEncoder().encode('\x19Ethereum Signed Message:\n32');

/** keccak256("\x19Ethereum Signed Message:\n32" ‖ hash): what the sender signs (EIP-191). */
export function signingDigest(hash: Uint8Array): Uint8Array {
  return keccak_256(concatBytes(SIGNED_MESSAGE_PREFIX, hash));
}

/** EIP-191 signature of a 32-byte hash: 65 bytes r ‖ s ‖ v (v = 27 or 28), low s, as Ethereum's ecrecover takes. */
export function signHash(hash: Uint8Array, privateKey: Uint8Array): Uint8Array {
  const recovered = secp256k1.sign(signingDigest(hash), privateKey, { prehash: false, format: 'recovered', lowS: true });
  // noble's recovered format puts the recovery id first.
  return concatBytes(recovered.subarray(1), new Uint8Array([27 + recovered[0]!]));
}

export function signTicket(t: Ticket, privateKey: Uint8Array): Uint8Array {
  return signHash(ticketHash(t), privateKey);
}

/** A 65-byte r ‖ s ‖ v signature's recovery bit, v read as ecrecover reads it (27/28 or 0/1); null for anything else. */
function recoveryBit(signature: Uint8Array): 0 | 1 | null {
  if (signature.length !== 65) return null;
  const v = signature[64]!;
  const recovery = v >= 27 ? v - 27 : v;
  return recovery === 0 || recovery === 1 ? recovery : null;
}

/** The signer's address, or null for a malformed or malleable (high-s) signature. */
export function recoverSigner(hash: Uint8Array, signature: Uint8Array): string | null {
  const recovery = recoveryBit(signature);
  if (recovery === null) return null;
  // A high-s twin of a valid signature is also valid ECDSA, but would let a sender re-roll the win draw.
  const s = BigInt(`0x${bytesToHex(signature.subarray(32, 64))}`);
  if (s > SECP256K1_HALF_N || s === 0n) return null;
  try {
    // Straight to the recovered point: asking for public key bytes would compress it, and the address
    // needs it uncompressed again (a modular square root per ticket).
    const point = secp256k1.Signature.fromBytes(signature.subarray(0, 64), 'compact').addRecoveryBit(recovery).recoverPublicKey(signingDigest(hash));
    return addressOfPublicKey(point.toBytes(false));
  } catch {
    return null;
  }
}

export function isWinningTicket(signature: Uint8Array, recipientRand: Uint8Array, winProb: bigint): boolean {
  const draw = BigInt(`0x${bytesToHex(keccak_256(concatBytes(signature, recipientRand)))}`);
  return draw < winProb;
}

/** Expected value × MAX_WIN_PROB, exact: compare these instead of dividing. */
export function scaledExpectedValue(faceValue: bigint, winProb: bigint): bigint {
  return faceValue * winProb;
}

export function expectedValue(faceValue: bigint, winProb: bigint): number {
  return Number((faceValue * winProb * 1_000_000n) / MAX_WIN_PROB) / 1_000_000;
}

const Point = secp256k1.Point;
const Fn = Point.Fn;
const bytesToBigInt = (b: Uint8Array) => BigInt(`0x${bytesToHex(b)}`);
/** Senders' public keys with precomputed multiplication tables, by address (bounded, oldest dropped first). */
const senderKeys = new Map<string, InstanceType<typeof Point>>();
const MAX_CACHED_SENDERS = 10_000;

/**
 * Whether `signature` over `hash` is the sender's, with the same answer as recovering the signer and
 * comparing addresses (v included, as ecrecover reads it). The first ticket from a sender is recovered;
 * after that its cached public key, with precomputed tables, makes each check a verification:
 * R = u1·G + u2·Q, valid when R.x = r and R.y's parity is v's recovery bit. Hot path: every ticket.
 */
export function isSignedBy(hash: Uint8Array, signature: Uint8Array, sender: string): boolean {
  const recovery = recoveryBit(signature);
  if (recovery === null) return false;
  const r = bytesToBigInt(signature.subarray(0, 32));
  const s = bytesToBigInt(signature.subarray(32, 64));
  if (r === 0n || r >= Fn.ORDER || s === 0n || s > SECP256K1_HALF_N) return false;
  const key = senderKeys.get(sender);
  if (!key) {
    if (recoverSigner(hash, signature) !== sender) return false;
    const point = secp256k1.Signature.fromBytes(signature.subarray(0, 64), 'compact').addRecoveryBit(recovery).recoverPublicKey(signingDigest(hash));
    if (senderKeys.size >= MAX_CACHED_SENDERS) senderKeys.delete(senderKeys.keys().next().value!);
    senderKeys.set(sender, point.precompute(8, false));
    return true;
  }
  const w = Fn.inv(s);
  const e = Fn.create(bytesToBigInt(signingDigest(hash)));
  const R = Point.BASE.multiplyUnsafe(Fn.mul(e, w)).add(key.multiplyUnsafe(Fn.mul(r, w)));
  if (R.is0()) return false;
  const { x, y } = R.toAffine();
  return Fn.create(x) === r && Number(y & 1n) === recovery;
}
