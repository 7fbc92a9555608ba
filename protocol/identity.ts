// A node's secp256k1 identity: created on first start, kept in the data directory (mode 0600), and
// addressed as Ethereum does (the last 20 bytes of keccak-256 of the uncompressed public key).

import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { addressOfPublicKey } from './address.ts';

export interface Identity {
  privateKey: Uint8Array;
  /** 0x-prefixed, lower case. */
  address: string;
}

export { addressOfPublicKey };

export function identityFromPrivateKey(privateKey: Uint8Array): Identity {
  return { privateKey, address: addressOfPublicKey(secp256k1.getPublicKey(privateKey, false)) };
}

/** A fresh key, held in memory only. */
export function randomIdentity(): Identity {
  return identityFromPrivateKey(secp256k1.utils.randomSecretKey());
}

/** `<dataDir>/keys/<name>.key` (created on first use), or a throwaway key when there is no data directory. */
export function nodeIdentity(dataDir: string | null, name: string): Identity {
  return dataDir ? loadOrCreateIdentity(dataDir, name) : randomIdentity();
}

/** Loads `<dataDir>/keys/<name>.key`, creating it on first use. */
export function loadOrCreateIdentity(dataDir: string, name: string): Identity {
  const dir = join(dataDir, 'keys');
  const file = join(dir, `${name}.key`);
  let hex: string;
  try {
    hex = readFileSync(file, 'utf8').trim();
  } catch {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    hex = bytesToHex(secp256k1.utils.randomSecretKey());
    writeFileSync(file, `${hex}\n`, { mode: 0o600, flag: 'wx' });
  }
  chmodSync(file, 0o600);
  return identityFromPrivateKey(hexToBytes(hex));
}
