// The signed capability record a transcoder or relay gossips (topic `castnet/nodes/1`): role, HTTP URL,
// capabilities, price, load, version, timestamp, and for relays the streams they hold and their busiest
// streams' figures. Signed with the node's payment key (EIP-191 over keccak256 of the record's canonical
// JSON), so a record can only speak for the address that gets paid; receivers drop bad signatures, stale
// records and unknown versions. The orchestrator gossips its own record the same way (topic
// `castnet/orchestrators/1`: its HTTP URL), so a node given only bootstrap peers learns where the ledger
// and the directory are.

import { keccak_256 } from '@noble/hashes/sha3.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { derivedAddressString, signatureString } from './fields.ts';
import type { Identity } from './identity.ts';
import { nodeUrlSchema } from './node-url.ts';
import { nodeCapabilitiesSchema, nodeLoadSchema, nodeRoleSchema, streamStatsSchema, type NodeRegistration, type StreamStatsEntry } from './node-record.ts';
import { isSignedBy, signHash, toHex } from './ticket.ts';

export const ANNOUNCEMENT_TOPIC = 'castnet/nodes/1';
export const ORCHESTRATOR_TOPIC = 'castnet/orchestrators/1';
export const ORCHESTRATOR_ANNOUNCEMENT_VERSION = 1;
/** 2: records carry per-stream stats (version 1 records had none, and hashed without them). */
export const ANNOUNCEMENT_VERSION = 2;
/**
 * Per-stream stats entries one record may carry: about 150 bytes each, so a record stays near 40 KB,
 * far under gossipsub's message limit, however many streams a relay serves. The sender keeps its busiest.
 */
export const MAX_ANNOUNCED_STATS = 256;

export const announcementSchema = z.object({
  record: z.object({
    version: z.number().int(),
    role: nodeRoleSchema,
    /** An http(s) origin; signed here, and proved by the node's URL challenge before it is scheduled. */
    url: nodeUrlSchema,
    /** Lower case: the address derived from the signing key, compared as a string. */
    paymentAddress: derivedAddressString,
    capabilities: nodeCapabilitiesSchema,
    load: nodeLoadSchema,
    /** Playback ids this relay holds as origin (relays only). */
    streams: z.array(z.string().max(64)).max(10_000).default([]),
    /** The relay's busiest streams' figures (relays only). */
    stats: z.array(streamStatsSchema).max(MAX_ANNOUNCED_STATS).default([]),
    timestamp: z.number().int().nonnegative(),
  }),
  signature: signatureString,
});
export type Announcement = z.infer<typeof announcementSchema>;
export type AnnouncedRecord = Announcement['record'];

export type AnnouncementRefusal = 'malformed' | 'unknown_version' | 'stale' | 'bad_signature';

/** keccak256 of the fields in a fixed order: the hash must not depend on how a sender's JSON orders keys. */
function recordHash(r: AnnouncedRecord): Uint8Array {
  const stats = r.stats.map((s) => [s.playbackId, s.viewers, s.bytesServed, s.hits, s.misses, s.hitRatio, s.upstreamBytes]);
  const fields = [r.version, r.role, r.url, r.paymentAddress, r.capabilities.encoders, r.capabilities.maxSessions, r.capabilities.pricePerPixel, r.load.sessions, r.load.inFlight, r.streams, stats, r.timestamp];
  // Signed when set, and only then, so records without it hash as before.
  if (r.capabilities.edge) fields.push('edge');
  // The delivery price is signed like the rest (appended only when set, as `edge`).
  if (r.capabilities.pricePerByte !== undefined) fields.push(['pricePerByte', r.capabilities.pricePerByte]);
  return keccak_256(new TextEncoder().encode(JSON.stringify(fields)));
}

/** The busiest streams first, at most MAX_ANNOUNCED_STATS of them. */
export function announcedStats(stats: ReadonlyArray<StreamStatsEntry>): StreamStatsEntry[] {
  return [...stats].sort((a, b) => b.viewers - a.viewers || b.bytesServed - a.bytesServed).slice(0, MAX_ANNOUNCED_STATS);
}

/** Signs a record, read through the schema first so the signed hash is the one receivers compute. */
export function signAnnouncement(input: z.input<typeof announcementSchema>['record'], identity: Identity): Uint8Array {
  const record = announcementSchema.shape.record.parse(input);
  return new TextEncoder().encode(JSON.stringify({ record, signature: toHex(signHash(recordHash(record), identity.privateKey)) }));
}

/** The record, or the reason it is dropped. */
export function openAnnouncement(bytes: Uint8Array, now: number, maxAgeMs: number): AnnouncedRecord | AnnouncementRefusal {
  return openSigned(bytes, announcementSchema, ANNOUNCEMENT_VERSION, recordHash, now, maxAgeMs);
}

export const orchestratorAnnouncementSchema = z.object({
  record: z.object({
    version: z.number().int(),
    role: z.literal('orchestrator'),
    /** Where nodes reach its API: registry, directory and ledger. */
    url: z.url(),
    /** Lower case: the address derived from the signing key. */
    paymentAddress: derivedAddressString,
    timestamp: z.number().int().nonnegative(),
  }),
  signature: signatureString,
});
export type OrchestratorRecord = z.infer<typeof orchestratorAnnouncementSchema>['record'];

function orchestratorRecordHash(r: OrchestratorRecord): Uint8Array {
  return keccak_256(new TextEncoder().encode(JSON.stringify([r.version, r.role, r.url, r.paymentAddress, r.timestamp])));
}

export function signOrchestratorAnnouncement(input: Omit<OrchestratorRecord, 'version' | 'role' | 'paymentAddress'>, identity: Identity): Uint8Array {
  const record = orchestratorAnnouncementSchema.shape.record.parse({ ...input, version: ORCHESTRATOR_ANNOUNCEMENT_VERSION, role: 'orchestrator', paymentAddress: identity.address.toLowerCase() });
  return new TextEncoder().encode(JSON.stringify({ record, signature: toHex(signHash(orchestratorRecordHash(record), identity.privateKey)) }));
}

export function openOrchestratorAnnouncement(bytes: Uint8Array, now: number, maxAgeMs: number): OrchestratorRecord | AnnouncementRefusal {
  return openSigned(bytes, orchestratorAnnouncementSchema, ORCHESTRATOR_ANNOUNCEMENT_VERSION, orchestratorRecordHash, now, maxAgeMs);
}

/** Parse, version, age, then signature: the checks every gossiped record passes, in that order. */
function openSigned<R extends { version: number; paymentAddress: string; timestamp: number }>(
  bytes: Uint8Array,
  schema: z.ZodType<{ record: R; signature: string }>,
  version: number,
  hash: (record: R) => Uint8Array,
  now: number,
  maxAgeMs: number,
): R | AnnouncementRefusal {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return 'malformed';
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    // A record from another version may not fit this version's schema: say so rather than "malformed".
    const got = (json as { record?: { version?: unknown } } | null)?.record?.version;
    return typeof got === 'number' && got !== version ? 'unknown_version' : 'malformed';
  }
  const { record, signature } = parsed.data;
  if (record.version !== version) return 'unknown_version';
  if (record.timestamp < now - maxAgeMs || record.timestamp > now + 30_000) return 'stale';
  if (!isSignedBy(hash(record), hexToBytes(signature.slice(2)), record.paymentAddress)) return 'bad_signature';
  return record;
}

/** What the registry keeps of a record: relays' streams and stats included. */
export function registrationOf(record: AnnouncedRecord): NodeRegistration {
  return {
    role: record.role,
    url: record.url,
    version: String(record.version),
    paymentAddress: record.paymentAddress,
    capabilities: record.capabilities,
    load: record.load,
    ...(record.role === 'relay' ? { streams: record.streams, stats: record.stats } : {}),
  };
}
