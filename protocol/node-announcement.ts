// The signed capability record a transcoder or relay gossips (topic `castnet/nodes/1`): role, HTTP URL,
// capabilities, price, load, version, timestamp, and for relays the streams they hold. Signed with the
// node's payment key (EIP-191 over keccak256 of the record's canonical JSON), so a record can only
// speak for the address that gets paid; receivers drop bad signatures, stale records and unknown versions.

import { keccak_256 } from '@noble/hashes/sha3.js';
import { z } from 'zod';
import type { Identity } from './identity.ts';
import { nodeCapabilitiesSchema, nodeLoadSchema, nodeRoleSchema, type NodeRegistration } from './node-record.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { concatBytes, hexToBytes } from '@noble/hashes/utils.js';
import { isSignedBy, signingDigest, toHex } from './ticket.ts';

export const ANNOUNCEMENT_TOPIC = 'castnet/nodes/1';
export const ANNOUNCEMENT_VERSION = 1;

export const announcementSchema = z.object({
  record: z.object({
    version: z.number().int(),
    role: nodeRoleSchema,
    url: z.url(),
    paymentAddress: z.string().regex(/^0x[0-9a-f]{40}$/),
    capabilities: nodeCapabilitiesSchema,
    load: nodeLoadSchema,
    /** Playback ids this relay holds as origin (relays only). */
    streams: z.array(z.string().max(64)).max(10_000).default([]),
    timestamp: z.number().int().nonnegative(),
  }),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
});
export type Announcement = z.infer<typeof announcementSchema>;
export type AnnouncedRecord = Announcement['record'];

export type AnnouncementRefusal = 'malformed' | 'unknown_version' | 'stale' | 'bad_signature';

/** keccak256 of the fields in a fixed order: the hash must not depend on how a sender's JSON orders keys. */
function recordHash(r: AnnouncedRecord): Uint8Array {
  const fields = [r.version, r.role, r.url, r.paymentAddress, r.capabilities.encoders, r.capabilities.maxSessions, r.capabilities.pricePerPixel, r.load.sessions, r.load.inFlight, r.streams, r.timestamp];
  return keccak_256(new TextEncoder().encode(JSON.stringify(fields)));
}

export function signAnnouncement(record: AnnouncedRecord, identity: Identity): Uint8Array {
  const recovered = secp256k1.sign(signingDigest(recordHash(record)), identity.privateKey, { prehash: false, format: 'recovered', lowS: true });
  return new TextEncoder().encode(JSON.stringify({ record, signature: toHex(concatBytes(recovered.subarray(1), new Uint8Array([27 + recovered[0]!]))) }));
}

/** The record, or the reason it is dropped. */
export function openAnnouncement(bytes: Uint8Array, now: number, maxAgeMs: number): AnnouncedRecord | AnnouncementRefusal {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return 'malformed';
  }
  const parsed = announcementSchema.safeParse(json);
  if (!parsed.success) return (json as { record?: { version?: unknown } })?.record?.version !== ANNOUNCEMENT_VERSION && typeof (json as { record?: { version?: unknown } })?.record?.version === 'number' ? 'unknown_version' : 'malformed';
  const { record, signature } = parsed.data;
  if (record.version !== ANNOUNCEMENT_VERSION) return 'unknown_version';
  if (record.timestamp < now - maxAgeMs || record.timestamp > now + 30_000) return 'stale';
  if (!isSignedBy(recordHash(record), hexToBytes(signature.slice(2)), record.paymentAddress)) return 'bad_signature';
  return record;
}

export function registrationOf(record: AnnouncedRecord): NodeRegistration {
  return { role: record.role, url: record.url, version: String(record.version), paymentAddress: record.paymentAddress, capabilities: record.capabilities, load: record.load };
}
