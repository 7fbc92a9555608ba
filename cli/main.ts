// `castnet <command>`: parses flags into a role's options and runs the role until SIGINT/SIGTERM.

import { resolve } from 'node:path';
import { createBroadcaster, defaultBroadcasterOptions, type BroadcasterOptions } from '../broadcaster/broadcaster.ts';
import { StreamKeyStore } from '../broadcaster/stream-keys.ts';
import { createOrchestrator, defaultOrchestratorOptions, type OrchestratorOptions } from '../orchestrator/orchestrator.ts';
import { createRelay, defaultRelayOptions, type RelayOptions } from '../relay/relay.ts';
import { createTranscoder, defaultTranscoderOptions, type TranscoderOptions } from '../transcoder/transcoder.ts';
import { detectEncoder } from '../transcoder/encoder-detection.ts';
import { createLogger } from '../observability/logger.ts';
import { loadOrCreateIdentity } from '../protocol/identity.ts';
import { defaultDevOptions, devOptionSpecs, runDev } from './dev.ts';
import { helpText, parseFlags, resolveOptions, type OptionSpec } from './options.ts';

const orchestratorSpecs: ReadonlyArray<OptionSpec<OrchestratorOptions>> = [
  { key: 'host', flag: 'host', description: 'listen address' },
  { key: 'port', flag: 'api-port', description: 'API port' },
  { key: 'dataDir', flag: 'data-dir', description: 'the ticket ledger (ledger.sqlite) lives here' },
  { key: 'heartbeatIntervalMs', flag: 'heartbeat-interval-ms', description: 'how often nodes heartbeat' },
  { key: 'nodeTimeoutMs', flag: 'node-timeout-ms', description: 'a node silent this long is dropped' },
  { key: 'streamTtlMs', flag: 'stream-ttl-ms', description: 'a stream not refreshed this long leaves the directory' },
  { key: 'transcodersPerStream', flag: 'transcoders-per-stream', description: 'transcoders each stream rotates over and fails over between' },
  { key: 'publicUrl', flag: 'public-url', description: 'URL nodes reach the API at, announced over libp2p (default: http://host:api-port)' },
  { key: 'p2p', flag: 'p2p', description: "run a libp2p host: hear nodes' gossiped records and announce this orchestrator (without it nodes register over HTTP)" },
  { key: 'p2pPort', flag: 'p2p-port', description: 'libp2p TCP port (0: any free port)' },
  { key: 'p2pAnnounce', flag: 'p2p-announce', description: "comma-separated multiaddrs peers dial this host at, e.g. behind NAT; empty: the listen addresses, under --public-url's host when it is set" },
  { key: 'announceIntervalMs', flag: 'announce-interval-ms', description: "how often the orchestrator's signed record is gossiped" },
  { key: 'bootstrap', flag: 'bootstrap', description: 'comma-separated multiaddrs of libp2p peers to join through' },
  { key: 'announcementMaxAgeMs', flag: 'announcement-max-age-ms', description: 'gossiped records older than this are dropped' },
];

const transcoderSpecs: ReadonlyArray<OptionSpec<TranscoderOptions>> = [
  { key: 'host', flag: 'host', description: 'listen address' },
  { key: 'port', flag: 'port', description: 'HTTP port' },
  { key: 'publicUrl', flag: 'public-url', description: 'URL other nodes reach this one at (default: http://host:port)' },
  { key: 'orchestrator', flag: 'orchestrator', description: "orchestrator URL for registration, the ledger and the directory; without it, learned from the orchestrator's signed libp2p record when --bootstrap is set, else http://127.0.0.1:8935" },
  { key: 'encoder', flag: 'encoder', description: 'auto (h264_nvenc when a GPU answers, else libx264), libx264 or h264_nvenc' },
  { key: 'concurrency', flag: 'concurrency', description: 'segments transcoded at once' },
  { key: 'maxQueued', flag: 'max-queued', description: 'segments waiting before the node answers 503' },
  { key: 'maxSegmentBytes', flag: 'max-segment-bytes', description: 'largest segment accepted' },
  { key: 'dataDir', flag: 'data-dir', description: 'identity key and the queue of winning tickets live here' },
  { key: 'pricePerPixel', flag: 'price-per-pixel', description: 'wei per output pixel (width × height × frames); 0 works for free' },
  { key: 'ticketFaceValue', flag: 'ticket-face-value', description: 'face value of the tickets this node asks for, in wei' },
  { key: 'ticketEv', flag: 'ticket-ev', description: 'expected value of one ticket in wei (win probability = ticket-ev / ticket-face-value)' },
  { key: 'ticketTtlMs', flag: 'ticket-ttl-ms', description: 'how long ticket parameters stay valid' },
  { key: 'redeemIntervalMs', flag: 'redeem-interval-ms', description: 'how often winning tickets are sent to the ledger' },
  { key: 'bootstrap', flag: 'bootstrap', description: 'comma-separated libp2p multiaddrs: announce over gossip instead of registering over HTTP' },
  { key: 'p2pPort', flag: 'p2p-port', description: 'libp2p TCP port (0: any free port)' },
  { key: 'p2pAnnounce', flag: 'p2p-announce', description: "comma-separated multiaddrs peers dial this node at, e.g. behind NAT; empty: the listen addresses, under --public-url's host when it is set" },
  { key: 'orchestratorWaitMs', flag: 'orchestrator-wait-ms', description: "with --bootstrap and no --orchestrator: how long start waits for the orchestrator's record before refusing to start" },
  { key: 'announceIntervalMs', flag: 'announce-interval-ms', description: 'how often the signed capability record is gossiped' },
];

const relaySpecs: ReadonlyArray<OptionSpec<RelayOptions>> = [
  { key: 'host', flag: 'host', description: 'listen address' },
  { key: 'port', flag: 'http-port', description: 'HTTP port for HLS, the player and pushes' },
  { key: 'publicUrl', flag: 'public-url', description: 'URL viewers and broadcasters reach this relay at' },
  { key: 'orchestrator', flag: 'orchestrator', description: "orchestrator URL for registration, the ledger and the directory; without it, learned from the orchestrator's signed libp2p record when --bootstrap is set, else http://127.0.0.1:8935" },
  { key: 'playlistSegments', flag: 'playlist-segments', description: 'segments listed in a live media playlist' },
  { key: 'extraSegments', flag: 'extra-segments', description: 'segments kept beyond the playlist for late players' },
  { key: 'streamIdleMs', flag: 'stream-idle-ms', description: 'a stream with no pushes this long is dropped' },
  { key: 'maxSessions', flag: 'max-sessions', description: 'streams this relay offers to hold' },
  { key: 'parents', flag: 'parents', description: 'parent relays to pull streams from, comma-separated, best first' },
  { key: 'discoverParents', flag: 'discover-parents', description: "find a stream's origin relay in the orchestrator's directory" },
  { key: 'cacheBytes', flag: 'cache-bytes', description: 'byte budget of segments pulled from parents' },
  { key: 'viewerWindowMs', flag: 'viewer-window-ms', description: 'viewer sessions are counted over this window' },
  { key: 'dataDir', flag: 'data-dir', description: "the relay's identity key lives here" },
  { key: 'bootstrap', flag: 'bootstrap', description: 'comma-separated libp2p multiaddrs: announce over gossip instead of registering over HTTP' },
  { key: 'p2pPort', flag: 'p2p-port', description: 'libp2p TCP port (0: any free port)' },
  { key: 'p2pAnnounce', flag: 'p2p-announce', description: "comma-separated multiaddrs peers dial this node at, e.g. behind NAT; empty: the listen addresses, under --public-url's host when it is set" },
  { key: 'orchestratorWaitMs', flag: 'orchestrator-wait-ms', description: "with --bootstrap and no --orchestrator: how long start waits for the orchestrator's record before refusing to start" },
  { key: 'announceIntervalMs', flag: 'announce-interval-ms', description: 'how often the signed capability record is gossiped' },
];

const broadcasterSpecs: ReadonlyArray<OptionSpec<BroadcasterOptions>> = [
  { key: 'host', flag: 'host', description: 'listen address' },
  { key: 'rtmpPort', flag: 'rtmp-port', description: 'RTMP ingest port' },
  { key: 'httpPort', flag: 'http-port', description: 'port of /healthz and /metrics' },
  { key: 'orchestrator', flag: 'orchestrator', description: 'orchestrator URL' },
  { key: 'dataDir', flag: 'data-dir', description: 'stream keys and scratch segments live here' },
  { key: 'dev', flag: 'dev', description: 'accept any stream key unless keys are configured' },
  { key: 'segmentSeconds', flag: 'segment-seconds', description: 'target segment duration (cut at the next keyframe)' },
  { key: 'ladder', flag: 'ladder', description: 'renditions below the source, e.g. 720p30:2800k,480p30:1200k,360p30:700k (empty: that default)' },
  { key: 'maxTranscodeBacklog', flag: 'max-transcode-backlog', description: 'segments waiting for a transcoder before renditions are skipped' },
  { key: 'reconnectGraceMs', flag: 'reconnect-grace-ms', description: 'how long a stream waits for its streamer to reconnect' },
  { key: 'sessionRefreshMs', flag: 'session-refresh-ms', description: 'how often stream sessions are refreshed with the orchestrator' },
  { key: 'maxPricePerPixel', flag: 'max-price-per-pixel', description: 'the most paid to a transcoder, in wei per output pixel' },
];

const usage = `Usage: castnet <command> [options]

Commands:
  dev            a whole network on loopback with a demo stream (what npm start runs)
  orchestrator   node registry, stream assignment and directory
  transcoder     transcodes segments into the rendition ladder
  relay          HLS origin: playlists, segments, player and embed pages
  broadcaster    RTMP ingest with stream keys
  keys add|list  manage stream keys (--data-dir)
  wallet         this machine's payment addresses and their ledger balances
  deposit <wei>  fund the broadcaster's tickets in the ledger (--reserve <wei>)

castnet <command> --help lists a command's options and their defaults.`;

function runUntilSignal(stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = () => {
    if (stopping) process.exit(1);
    stopping = true;
    stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  const role = async <O extends object>(name: string, summary: string, specs: ReadonlyArray<OptionSpec<O>>, defaults: O, extraHelp?: () => Promise<string>) => {
    if (wantsHelp) {
      process.stdout.write(`${helpText(name, summary, specs, defaults)}\n${extraHelp ? `\n${await extraHelp()}\n` : ''}`);
      return null;
    }
    return resolveOptions(specs, defaults, rest);
  };
  switch (command) {
    case 'dev': {
      const options = await role('dev', 'Starts an orchestrator, a transcoder, a relay and a broadcaster on loopback, with a demo stream.', devOptionSpecs, defaultDevOptions);
      if (!options) return;
      const network = await runDev(options);
      runUntilSignal(() => network.stop());
      return;
    }
    case 'orchestrator': {
      const options = await role('orchestrator', 'Node registry, stream assignment and the public stream directory.', orchestratorSpecs, defaultOrchestratorOptions);
      if (!options) return;
      const node = await createOrchestrator(options, { logger: createLogger() });
      await node.start();
      runUntilSignal(() => node.stop());
      return;
    }
    case 'transcoder': {
      const options = await role('transcoder', 'Transcodes each segment it is sent into the rendition ladder with FFmpeg.', transcoderSpecs, defaultTranscoderOptions, async () => {
        const detected = await detectEncoder('auto');
        return `Encoder detected on this machine: ${detected.encoder} (${detected.reason})`;
      });
      if (!options) return;
      const node = await createTranscoder(options, { logger: createLogger() });
      await node.start();
      runUntilSignal(() => node.stop());
      return;
    }
    case 'relay': {
      const options = await role('relay', 'HLS origin: stores pushed segments in a live window and serves playlists, segments and the player.', relaySpecs, defaultRelayOptions);
      if (!options) return;
      const node = await createRelay(options, { logger: createLogger() });
      await node.start();
      runUntilSignal(() => node.stop());
      return;
    }
    case 'broadcaster': {
      const options = await role('broadcaster', 'RTMP ingest: publish to rtmp://<host>:<rtmp-port>/live/<stream key>.', broadcasterSpecs, defaultBroadcasterOptions);
      if (!options) return;
      const node = await createBroadcaster(options, { logger: createLogger() });
      await node.start();
      runUntilSignal(() => node.stop());
      return;
    }
    case 'keys': {
      const { flags, positional } = parseFlags(rest);
      const dataDir = resolve(String(flags.get('data-dir') ?? process.env.CASTNET_DATA_DIR ?? defaultBroadcasterOptions.dataDir));
      const store = new StreamKeyStore({ dataDir, devMode: false });
      if (positional[0] === 'add') {
        const { streamKey, playbackId } = store.add();
        process.stdout.write(`stream key:  ${streamKey}\nplayback id: ${playbackId}\n`);
      } else if (positional[0] === 'list') {
        for (const k of store.list()) process.stdout.write(`${k.playbackId}\t${k.origin}\t${k.streamKey}\n`);
      } else {
        process.stdout.write('Usage: castnet keys add|list [--data-dir ./.castnet]\n');
      }
      return;
    }
    case 'wallet':
    case 'deposit': {
      const { flags, positional } = parseFlags(rest);
      const dataDir = resolve(String(flags.get('data-dir') ?? process.env.CASTNET_DATA_DIR ?? defaultBroadcasterOptions.dataDir));
      const orchestrator = String(flags.get('orchestrator') ?? process.env.CASTNET_ORCHESTRATOR ?? defaultBroadcasterOptions.orchestrator).replace(/\/$/, '');
      if (wantsHelp) {
        process.stdout.write('Usage: castnet wallet [--data-dir ./.castnet] [--orchestrator URL]\n       castnet deposit <wei> [--reserve <wei>] [--data-dir ./.castnet] [--orchestrator URL]\n');
        return;
      }
      const account = async (address: string) => {
        const res = await fetch(`${orchestrator}/api/ledger/accounts/${address}`, { signal: AbortSignal.timeout(5_000) });
        if (!res.ok) throw new Error(`ledger at ${orchestrator} answered ${res.status}`);
        return (await res.json()) as { deposit: string; reserve: string; earned: string; spent: string };
      };
      if (command === 'deposit') {
        const amount = positional[0];
        const reserve = String(flags.get('reserve') ?? '0');
        if (!amount || !/^\d+$/.test(amount) || !/^\d+$/.test(reserve)) throw new Error('usage: castnet deposit <wei> [--reserve <wei>]');
        const { address } = loadOrCreateIdentity(dataDir, 'broadcaster');
        const res = await fetch(`${orchestrator}/api/ledger/deposits`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ address, amount, reserve }),
          signal: AbortSignal.timeout(5_000),
        });
        if (!res.ok) throw new Error(`ledger refused the deposit: ${res.status} ${await res.text()}`);
        const a = (await res.json()) as { deposit: string; reserve: string };
        process.stdout.write(`funded ${address}: deposit ${a.deposit} wei, reserve ${a.reserve} wei\n`);
        return;
      }
      for (const role of ['broadcaster', 'transcoder']) {
        const { address } = loadOrCreateIdentity(dataDir, role);
        const a = await account(address).catch((err: Error) => ({ error: err.message }));
        const line = 'error' in a ? `(${a.error})` : `deposit ${a.deposit} wei, reserve ${a.reserve} wei, earned ${a.earned} wei, spent ${a.spent} wei`;
        process.stdout.write(`${role.padEnd(12)} ${address}  ${line}\n`);
      }
      return;
    }
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${usage}\n`);
      return;
    default:
      process.stderr.write(`castnet: unknown command "${command}"\n\n${usage}\n`);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`castnet: ${err.message}\n`);
  process.exit(1);
});
