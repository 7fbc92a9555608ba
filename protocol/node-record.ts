// Wire contract of the node registry: what transcoders and relays send when they register and heartbeat,
// and what `GET /api/nodes` answers.

import { z } from 'zod';

export const nodeRoleSchema = z.enum(['transcoder', 'relay']);
export type NodeRole = z.infer<typeof nodeRoleSchema>;

export const nodeCapabilitiesSchema = z.object({
  encoders: z.array(z.string()).default([]),
  maxSessions: z.number().int().positive().default(8),
  /** Wei per output pixel (decimal string), for transcoders. */
  pricePerPixel: z.string().regex(/^\d{1,78}$/).default('0'),
});
export type NodeCapabilities = z.infer<typeof nodeCapabilitiesSchema>;

export const nodeLoadSchema = z.object({
  sessions: z.number().int().nonnegative().default(0),
  inFlight: z.number().int().nonnegative().default(0),
});
export type NodeLoad = z.infer<typeof nodeLoadSchema>;

export const nodeRegistrationSchema = z.object({
  role: nodeRoleSchema,
  url: z.url(),
  version: z.string().max(64).default('0'),
  /** Where this node gets paid: the Ethereum address of its identity key. */
  paymentAddress: z.string().regex(/^0x[0-9a-fA-F]{40}$/).optional(),
  capabilities: nodeCapabilitiesSchema.default({ encoders: [], maxSessions: 8, pricePerPixel: '0' }),
  load: nodeLoadSchema.default({ sessions: 0, inFlight: 0 }),
  /** Relays: the streams held as origin. */
  streams: z.array(z.string().max(64)).max(10_000).optional(),
  /** Relays: per-stream viewers, bytes served, hit ratio and upstream bytes. */
  stats: z.array(z.object({ playbackId: z.string(), viewers: z.number(), bytesServed: z.number(), hits: z.number(), misses: z.number(), hitRatio: z.number(), upstreamBytes: z.number() })).max(10_000).optional(),
});
export type NodeRegistration = z.infer<typeof nodeRegistrationSchema>;

export const heartbeatSchema = z.object({ load: nodeLoadSchema, stats: nodeRegistrationSchema.shape.stats });

export interface NodeRecord extends NodeRegistration {
  id: string;
  registeredAt: string;
  lastSeenAt: string;
}

export interface RegistrationAnswer {
  id: string;
  heartbeatIntervalMs: number;
}
