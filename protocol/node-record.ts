// Wire contract of the node registry: what transcoders and relays send when they register and heartbeat,
// and what `GET /api/nodes` answers.

import { z } from 'zod';
import { addressString, decimalString } from './fields.ts';
import { nodeUrlSchema } from './node-url.ts';

export const nodeRoleSchema = z.enum(['transcoder', 'relay']);
export type NodeRole = z.infer<typeof nodeRoleSchema>;

export const nodeCapabilitiesSchema = z.object({
  encoders: z.array(z.string()).default([]),
  maxSessions: z.number().int().positive().default(8),
  /** Wei per output pixel (decimal string), for transcoders. */
  pricePerPixel: decimalString.default('0'),
  /** Relays: wei per byte delivered (decimal string); absent or '0': free. */
  pricePerByte: decimalString.optional(),
  /** Relays: a pure edge, which refuses pushes and is never assigned as a stream's origin. */
  edge: z.boolean().optional(),
});
export type NodeCapabilities = z.infer<typeof nodeCapabilitiesSchema>;

export const nodeLoadSchema = z.object({
  sessions: z.number().int().nonnegative().default(0),
  inFlight: z.number().int().nonnegative().default(0),
});
export type NodeLoad = z.infer<typeof nodeLoadSchema>;

/** A relay's figures for one stream, as it reports them in heartbeats and announcements. */
export const streamStatsSchema = z.object({ playbackId: z.string(), viewers: z.number(), bytesServed: z.number(), hits: z.number(), misses: z.number(), hitRatio: z.number(), upstreamBytes: z.number() });
export type StreamStatsEntry = z.infer<typeof streamStatsSchema>;

export const nodeRegistrationSchema = z.object({
  role: nodeRoleSchema,
  /** An http(s) origin (protocol/node-url.ts); the node proves it answers there before it is scheduled. */
  url: nodeUrlSchema,
  version: z.string().max(64).default('0'),
  /** Where this node gets paid: the Ethereum address of its identity key, which signs its registration and is its id. */
  paymentAddress: addressString.optional(),
  capabilities: nodeCapabilitiesSchema.default({ encoders: [], maxSessions: 8, pricePerPixel: '0' }),
  load: nodeLoadSchema.default({ sessions: 0, inFlight: 0 }),
  /** Relays: the streams held as origin. */
  streams: z.array(z.string().max(64)).max(10_000).optional(),
  /** Relays: per-stream viewers, bytes served, hit ratio and upstream bytes. */
  stats: z.array(streamStatsSchema).max(10_000).optional(),
});
export type NodeRegistration = z.infer<typeof nodeRegistrationSchema>;

export const heartbeatSchema = z.object({ load: nodeLoadSchema, stats: nodeRegistrationSchema.shape.stats });

/** A registered node as the registry keeps it (and `POST /api/streams` answers it in an assignment); its id is its key's address. */
export const nodeRecordSchema = nodeRegistrationSchema.extend({ id: z.string(), registeredAt: z.string(), lastSeenAt: z.string() });
export type NodeRecord = z.infer<typeof nodeRecordSchema>;

/** Where a node stands with the orchestrator: proving its URL, scheduled, failed its proof (retried), or banned. */
export const nodeStateSchema = z.enum(['pending-proof', 'active', 'unproven', 'banned']);

/** The answer to `POST /api/nodes`: the node's id (its address) and its state (scheduled once `active`). */
export const registrationAnswerSchema = z.object({
  id: z.string().min(1),
  heartbeatIntervalMs: z.number().int().positive(),
  state: nodeStateSchema.optional(),
  /** The orchestrator's clock (ms) when it answered: a node reports its own clock's skew from it. */
  orchestratorTime: z.number().int().nonnegative().optional(),
});
export type RegistrationAnswer = z.infer<typeof registrationAnswerSchema>;

/**
 * One entry of `GET /api/nodes`: the record, with `streams` the number of streams the orchestrator
 * assigned to the node (not the list a relay holds), its recent failure reports and what it earned.
 */
export const nodeListingSchema = nodeRecordSchema.omit({ streams: true }).extend({
  /** The node's URL again, under the name the dashboard reads. */
  address: z.string(),
  streams: z.number().int().nonnegative(),
  recentFailures: z.number().int().nonnegative(),
  /** Wei (decimal string). */
  earned: decimalString,
  state: nodeStateSchema.default('active'),
  /** Why it is not active (a failed proof, a ban); null when it is. */
  stateReason: z.string().nullable().default(null),
  /** Reputation: 1 with no recent failures, 0 at the ban threshold. */
  score: z.number().min(0).max(1).default(1),
  bannedUntil: z.string().nullable().default(null),
  /** The node's clock minus the orchestrator's, from its last signed write (ms); null before one. */
  clockSkewMs: z.number().int().nullable().default(null),
});
export type NodeListing = z.infer<typeof nodeListingSchema>;
