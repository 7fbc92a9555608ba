// The libp2p host every networked node runs: TCP, noise, yamux, identify, gossipsub, and bootstrap peers.

import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { bootstrap } from '@libp2p/bootstrap';
import { gossipsub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';
import type { Logger } from '../observability/logger.ts';

export interface P2pHostOptions {
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Multiaddrs of peers to join through. */
  bootstrap: string[];
  logger: Logger;
}

interface PubSub {
  subscribe(topic: string): void;
  publish(topic: string, data: Uint8Array): Promise<unknown>;
  addEventListener(type: 'message', listener: (event: CustomEvent<{ topic: string; data: Uint8Array }>) => void): void;
}

export interface P2pHost {
  readonly multiaddrs: string[];
  readonly peers: number;
  subscribe(topic: string, onMessage: (data: Uint8Array) => void): void;
  publish(topic: string, data: Uint8Array): Promise<void>;
  stop(): Promise<void>;
}

export async function createP2pHost(options: P2pHostOptions): Promise<P2pHost> {
  const node = await createLibp2p({
    addresses: { listen: [`/ip4/${options.host}/tcp/${options.port}`] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: options.bootstrap.length ? [bootstrap({ list: options.bootstrap })] : [],
    // Records are published even before a mesh forms, so a lone bootstrap peer still hears them.
    services: { identify: identify(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true } as Parameters<typeof gossipsub>[0]) },
  });
  const pubsub = node.services.pubsub as unknown as PubSub;
  const handlers = new Map<string, (data: Uint8Array) => void>();
  pubsub.addEventListener('message', (event) => handlers.get(event.detail.topic)?.(event.detail.data));
  options.logger.info({ multiaddrs: node.getMultiaddrs().map(String), bootstrap: options.bootstrap }, 'libp2p host listening');
  return {
    get multiaddrs() {
      return node.getMultiaddrs().map(String);
    },
    get peers() {
      return node.getPeers().length;
    },
    subscribe(topic, onMessage) {
      handlers.set(topic, onMessage);
      pubsub.subscribe(topic);
    },
    async publish(topic, data) {
      await pubsub.publish(topic, data);
    },
    stop: async () => {
      await node.stop();
    },
  };
}
