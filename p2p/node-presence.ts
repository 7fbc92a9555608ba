// How a transcoder or relay makes itself known: with bootstrap peers, by gossiping signed records over
// libp2p; without, by registering and heartbeating over HTTP with one orchestrator (the single-machine
// default). Either way the orchestrator's registry drops the node when it falls silent.

import type { Identity } from '../protocol/identity.ts';
import type { NodeRegistration } from '../protocol/node-record.ts';
import type { Logger } from '../observability/logger.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import { Announcer } from './announcer.ts';
import { createP2pHost, type P2pHost } from './p2p-host.ts';
import { NodeRegistrationLoop } from './registration-loop.ts';

export interface PresenceOptions {
  host: string;
  /** null: none to register with. */
  orchestrator: string | null;
  /** Bootstrap multiaddrs; any switches to gossip. */
  bootstrap: readonly string[];
  p2pPort: number;
  announceIntervalMs: number;
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
  if (bootstrap.length > 0) {
    const p2p = await createP2pHost({ host: options.host, port: Math.max(0, options.p2pPort), bootstrap, logger: options.logger });
    const announcer = new Announcer(p2p, options.identity, options.record, options.logger);
    announcer.start(options.announceIntervalMs);
    return {
      p2p,
      async stop() {
        announcer.stop();
        await p2p.stop();
      },
    };
  }
  if (!options.orchestrator) return { p2p: null, stop: async () => {} };
  const loop = new NodeRegistrationLoop(new OrchestratorClient(options.orchestrator), () => ({ ...options.record(), paymentAddress: options.identity.address }), options.logger);
  await loop.start();
  return {
    p2p: null,
    async stop() {
      loop.stop();
    },
  };
}
