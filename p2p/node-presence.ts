// How a transcoder or relay makes itself known: with bootstrap peers, by gossiping signed records over
// libp2p (and learning the orchestrator's URL from the orchestrator's own record unless one was given);
// without, by registering and heartbeating over HTTP with one orchestrator (the single-machine default).
// Either way the orchestrator's registry drops the node when it falls silent.

import type { Identity } from '../protocol/identity.ts';
import { ANNOUNCEMENT_TOPIC, ANNOUNCEMENT_VERSION, ORCHESTRATOR_TOPIC, announcedStats, openOrchestratorAnnouncement, signAnnouncement } from '../protocol/node-announcement.ts';
import type { NodeRegistration } from '../protocol/node-record.ts';
import { CastnetError } from '../protocol/errors.ts';
import type { Logger } from '../observability/logger.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import { Announcer } from './announcer.ts';
import type { OrchestratorLocator } from './orchestrator-locator.ts';
import { createP2pHost, type P2pHost } from './p2p-host.ts';
import { loadOrCreatePeerKey } from './peer-key.ts';
import { NodeRegistrationLoop } from './registration-loop.ts';

/** An orchestrator record older than this is stale: it announces every couple of seconds. */
export const ORCHESTRATOR_RECORD_MAX_AGE_MS = 30_000;

export interface PresenceOptions {
  role: 'transcoder' | 'relay';
  host: string;
  /** Bootstrap multiaddrs; any switches to gossip. */
  bootstrap: readonly string[];
  p2pPort: number;
  /** Multiaddrs to announce instead of the listen addresses; none: derived from publicUrl. */
  p2pAnnounce: readonly string[];
  publicUrl: string | null;
  /** The libp2p key lives here; null keeps a throwaway key. */
  dataDir: string | null;
  announceIntervalMs: number;
  /** How long start waits for the orchestrator's record when it must learn the URL from gossip. */
  orchestratorWaitMs: number;
  orchestrator: OrchestratorLocator;
  identity: Identity;
  record: () => NodeRegistration;
  logger: Logger;
}

export interface Presence {
  readonly p2p: P2pHost | null;
  stop(): Promise<void>;
}

export async function startPresence(options: PresenceOptions): Promise<Presence> {
  const bootstrap = [...options.bootstrap];
  if (bootstrap.length > 0) return startGossip(options, bootstrap);
  const url = options.orchestrator.url();
  if (url === null) return { p2p: null, stop: async () => {} };
  // Registration and heartbeats are signed by the node's key, which is its id at the orchestrator.
  const loop = new NodeRegistrationLoop(new OrchestratorClient(url, { identity: options.identity }), () => ({ ...options.record(), paymentAddress: options.identity.address }), options.logger);
  await loop.start();
  return {
    p2p: null,
    async stop() {
      loop.stop();
    },
  };
}

async function startGossip(options: PresenceOptions, bootstrap: string[]): Promise<Presence> {
  const { logger, orchestrator } = options;
  const p2p = await createP2pHost({
    host: options.host,
    port: options.p2pPort,
    bootstrap,
    privateKey: await loadOrCreatePeerKey(options.dataDir, options.role),
    announce: [...options.p2pAnnounce],
    ...(options.publicUrl ? { announceHost: new URL(options.publicUrl).hostname } : {}),
    logger,
  });
  // Subscribed to the nodes' topic too: gossipsub forwards only topics a host subscribes to, so every
  // node carries records across the mesh, not only hosts directly connected to the orchestrator.
  p2p.subscribe(ANNOUNCEMENT_TOPIC, () => {});
  p2p.subscribe(ORCHESTRATOR_TOPIC, (data) => {
    const opened = openOrchestratorAnnouncement(data, Date.now(), ORCHESTRATOR_RECORD_MAX_AGE_MS);
    if (typeof opened === 'string') logger.debug({ reason: opened }, 'orchestrator announcement dropped');
    else orchestrator.heard(opened);
  });
  const announcer = new Announcer(p2p, ANNOUNCEMENT_TOPIC, () => {
    const r = options.record();
    return signAnnouncement(
      { version: ANNOUNCEMENT_VERSION, role: r.role, url: r.url, paymentAddress: options.identity.address, capabilities: r.capabilities, load: r.load, streams: r.streams ?? [], stats: announcedStats(r.stats ?? []), timestamp: Date.now() },
      options.identity,
    );
  }, logger);
  announcer.start(options.announceIntervalMs);
  const stop = async () => {
    announcer.stop();
    await p2p.stop();
  };
  if (orchestrator.learns && !(await orchestrator.known(options.orchestratorWaitMs))) {
    const peers = p2p.peers;
    await stop();
    throw new CastnetError(
      'UNAVAILABLE',
      `no orchestrator announced itself over libp2p within ${options.orchestratorWaitMs / 1000} s ` +
        `(bootstrap peers tried: ${bootstrap.join(', ')}; connected to ${peers} peer${peers === 1 ? '' : 's'}). ` +
        'Check that the orchestrator runs with --p2p and that --bootstrap reaches the network, or set --orchestrator <url>.',
    );
  }
  return { p2p, stop };
}
