// A node's libp2p identity (Ed25519): kept in `<data-dir>/keys/libp2p-<role>.key` (protobuf-encoded, mode
// 0600) so its peer id, and so every bootstrap address naming it, survives restarts.

import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';

export function peerKeyPath(dataDir: string, role: string): string {
  return join(dataDir, 'keys', `libp2p-${role}.key`);
}

/** The role's key from its data directory, created on first use; no data directory: a throwaway key. */
export async function loadOrCreatePeerKey(dataDir: string | null, role: string): Promise<PrivateKey> {
  if (dataDir === null) return generateKeyPair('Ed25519');
  const file = peerKeyPath(dataDir, role);
  let bytes: Uint8Array | null = null;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (bytes) {
    chmodSync(file, 0o600);
    return privateKeyFromProtobuf(bytes);
  }
  const key = await generateKeyPair('Ed25519');
  mkdirSync(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
  // Written aside and renamed, so a crash mid-write never leaves a truncated key behind.
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, privateKeyToProtobuf(key), { mode: 0o600 });
  renameSync(temp, file);
  return key;
}
