// The orchestrator on libp2p: hears nodes' signed records, and gossips its own (its HTTP URL) so a node
// given only bootstrap peers finds the ledger and the directory.

import type { Identity } from '../protocol/identity.ts';
import { ANNOUNCEMENT_TOPIC, ORCHESTRATOR_TOPIC, signOrchestratorAnnouncement } from '../protocol/node-announcement.ts';
import type { Logger } from '../observability/logger.ts';
import { Announcer } from './announcer.ts';
import { createP2pHost, type P2pHost } from './p2p-host.ts';
import { loadOrCreatePeerKey } from './peer-key.ts';

export interface OrchestratorPresenceOptions {
  host: string;
  p2pPort: number;
  bootstrap: readonly string[];
  /** Multiaddrs to announce instead of the listen addresses; none: derived from url(). */
  p2pAnnounce: readonly string[];
  /** The libp2p key lives here; null keeps a throwaway key. */
  dataDir: string | null;
  announceIntervalMs: number;
  /** The URL nodes reach this orchestrator at, read at each announcement. */
  url: () => string;
  identity: Identity;
  onAnnouncement: (data: Uint8Array) => void;
  logger: Logger;
}

export interface OrchestratorPresence {
  readonly p2p: P2pHost;
  stop(): Promise<void>;
}

export async function startOrchestratorPresence(options: OrchestratorPresenceOptions): Promise<OrchestratorPresence> {
  const url = options.url();
  const p2p = await createP2pHost({
    host: options.host,
    port: options.p2pPort,
    bootstrap: [...options.bootstrap],
    privateKey: await loadOrCreatePeerKey(options.dataDir, 'orchestrator'),
    announce: [...options.p2pAnnounce],
    announceHost: new URL(url).hostname,
    logger: options.logger,
  });
  p2p.subscribe(ANNOUNCEMENT_TOPIC, options.onAnnouncement);
  p2p.subscribe(ORCHESTRATOR_TOPIC, () => {});
  if (/^https?:\/\/(0\.0\.0\.0|\[::\])/.test(url)) options.logger.warn({ url }, 'the orchestrator announces a wildcard address: set --public-url so nodes can reach it');
  const announcer = new Announcer(p2p, ORCHESTRATOR_TOPIC, () => signOrchestratorAnnouncement({ url: options.url(), timestamp: Date.now() }, options.identity), options.logger);
  announcer.start(options.announceIntervalMs);
  return {
    p2p,
    async stop() {
      announcer.stop();
      await p2p.stop();
    },
  };
}
