// The libp2p host every networked node runs: TCP, noise, yamux, identify, gossipsub, and peer discovery
// through the network itself (each host gossips its addresses, `@libp2p/pubsub-peer-discovery`, and dials
// the peers it hears of), so any node can be the bootstrap and nodes mesh with each other. Bootstrap
// peers are dialled again with backoff whenever their connection is gone: a restarted orchestrator, with
// the same key and port, is found again within seconds.

import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { gossipsub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import type { PrivateKey } from '@libp2p/interface';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { pubsubPeerDiscovery } from '@libp2p/pubsub-peer-discovery';
import { tcp } from '@libp2p/tcp';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { isIPv4, isIPv6 } from 'node:net';
import { createLibp2p } from 'libp2p';
import { CastnetError } from '../protocol/errors.ts';
import type { Logger } from '../observability/logger.ts';

/** Each role's default libp2p TCP port, fixed so bootstrap addresses survive restarts. */
export const DEFAULT_P2P_PORTS = { orchestrator: 4001, transcoder: 4002, relay: 4003 } as const;
/** How often a host gossips its own addresses on the discovery topic. */
export const PEER_DISCOVERY_INTERVAL_MS = 2_000;
/** Backoff between dials of a bootstrap peer that is not connected: doubles from the first to the last. */
export const BOOTSTRAP_RETRY_MIN_MS = 500;
export const BOOTSTRAP_RETRY_MAX_MS = 4_000;
/** Peers heard of through discovery are dialled only while the host has fewer connections than this. */
export const MAX_DISCOVERED_CONNECTIONS = 32;
const DISCOVERY_TOPIC = 'castnet/peers/1';

export interface P2pHostOptions {
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Multiaddrs of peers to join through, each ending in /p2p/<peer id>. */
  bootstrap: string[];
  /** The host's identity (see peer-key.ts); absent: a throwaway key. */
  privateKey?: PrivateKey;
  /** Multiaddrs others dial this host at, replacing the listen addresses (a node behind NAT). */
  announce?: string[];
  /** Else: a host name or IP the listen addresses are announced under (the host of --public-url). */
  announceHost?: string;
  logger: Logger;
}

interface PubSub {
  subscribe(topic: string): void;
  publish(topic: string, data: Uint8Array): Promise<unknown>;
  addEventListener(type: 'message', listener: (event: CustomEvent<{ topic: string; data: Uint8Array }>) => void): void;
}

export interface P2pHost {
  readonly peerId: string;
  readonly multiaddrs: string[];
  readonly peers: number;
  subscribe(topic: string, onMessage: (data: Uint8Array) => void): void;
  publish(topic: string, data: Uint8Array): Promise<void>;
  stop(): Promise<void>;
}

/** Validates bootstrap multiaddrs at the edge: each must name the peer it reaches. */
export function parseBootstrap(list: string[]): Multiaddr[] {
  return list.map((a) => {
    let ma: Multiaddr;
    try {
      ma = multiaddr(a);
    } catch {
      throw new CastnetError('BAD_REQUEST', `bootstrap address "${a}" is not a multiaddr (expected /ip4/<ip>/tcp/<port>/p2p/<peer id>)`);
    }
    if (!ma.getComponents().some((c) => c.name === 'p2p')) throw new CastnetError('BAD_REQUEST', `bootstrap address "${a}" names no peer: end it with /p2p/<peer id>`);
    return ma;
  });
}

/** The listen ports under another host name; libp2p adds /p2p/<id> to announce strings, not to a filter's output. */
function announceFilterFor(hostname: string, peerId: string): (addrs: Multiaddr[]) => Multiaddr[] {
  const proto = isIPv4(hostname) ? 'ip4' : isIPv6(hostname) ? 'ip6' : 'dns4';
  return (addrs) => {
    const ports = new Set(addrs.map((a) => a.getComponents().find((c) => c.name === 'tcp')?.value).filter((p): p is string => !!p));
    return [...ports].map((port) => multiaddr(`/${proto}/${hostname}/tcp/${port}/p2p/${peerId}`));
  };
}

export async function createP2pHost(options: P2pHostOptions): Promise<P2pHost> {
  const bootstrap = parseBootstrap(options.bootstrap);
  // A loopback or wildcard host says nothing about where peers reach this one: the listen addresses stay.
  const announceHost = options.announceHost?.replace(/^\[|\]$/g, '');
  const derived = !options.announce?.length && announceHost && !['127.0.0.1', 'localhost', '::1', '0.0.0.0', '::'].includes(announceHost);
  const privateKey = options.privateKey ?? (await generateKeyPair('Ed25519'));
  let node;
  try {
    node = await createLibp2p({
      privateKey,
      addresses: {
        listen: [`/ip4/${options.host}/tcp/${options.port}`],
        ...(options.announce?.length ? { announce: options.announce } : {}),
        ...(derived ? { announceFilter: announceFilterFor(announceHost!, peerIdFromPrivateKey(privateKey).toString()) } : {}),
      },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      peerDiscovery: [pubsubPeerDiscovery({ interval: PEER_DISCOVERY_INTERVAL_MS, topics: [DISCOVERY_TOPIC] })],
      // Records are published even before a mesh forms, so a lone bootstrap peer still hears them.
      services: { identify: identify(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true } as Parameters<typeof gossipsub>[0]) },
    });
  } catch (err) {
    if (/EADDRINUSE/.test(String((err as Error).message))) throw new CastnetError('BAD_REQUEST', `libp2p port ${options.port} on ${options.host} is in use: stop what holds it, or set --p2p-port (0: any free port)`);
    throw err;
  }
  const pubsub = node.services.pubsub as unknown as PubSub;
  const handlers = new Map<string, (data: Uint8Array) => void>();
  pubsub.addEventListener('message', (event) => handlers.get(event.detail.topic)?.(event.detail.data));
  const self = node.peerId.toString();

  // Meshing: the host dials peers other hosts gossip about (libp2p 3 does not dial discovered peers itself).
  node.addEventListener('peer:discovery', (event) => {
    const id = event.detail.id;
    if (id.equals(node.peerId) || node.getConnections(id).length > 0 || node.getConnections().length >= MAX_DISCOVERED_CONNECTIONS) return;
    node.dial(id).catch((err: Error) => options.logger.debug({ peer: id.toString(), err }, 'discovered peer not reachable'));
  });

  // Bootstrap peers: dialled at once, then again with backoff whenever their connection is gone.
  const retry = new Map<string, { delayMs: number; at: number }>();
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const redial = () => {
    const now = Date.now();
    for (const ma of bootstrap) {
      const id = ma.getComponents().find((c) => c.name === 'p2p')!.value!;
      if (id === self) continue;
      const state = retry.get(id) ?? { delayMs: BOOTSTRAP_RETRY_MIN_MS, at: 0 };
      retry.set(id, state);
      if (node.getConnections(peerIdFromString(id)).length > 0) {
        state.delayMs = BOOTSTRAP_RETRY_MIN_MS;
        continue;
      }
      if (now < state.at) continue;
      state.at = now + state.delayMs;
      state.delayMs = Math.min(state.delayMs * 2, BOOTSTRAP_RETRY_MAX_MS);
      node.dial(ma).then(
        () => options.logger.info({ peer: id }, 'connected to bootstrap peer'),
        (err: Error) => options.logger.debug({ peer: id, err }, 'bootstrap peer not reachable; will retry'),
      );
    }
    if (!stopped) {
      timer = setTimeout(redial, BOOTSTRAP_RETRY_MIN_MS);
      timer.unref();
    }
  };
  if (bootstrap.length) redial();

  options.logger.info({ peerId: self, multiaddrs: node.getMultiaddrs().map(String), bootstrap: options.bootstrap }, 'libp2p host listening');
  return {
    peerId: self,
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
      stopped = true;
      if (timer) clearTimeout(timer);
      await node.stop();
    },
  };
}
