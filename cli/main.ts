// `castnet <command>`: a table of roles, each with its summary, options definition and factory; parses the
// command line into the role's options and runs it until SIGINT/SIGTERM.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createBroadcaster, defaultBroadcasterOptions } from '../broadcaster/broadcaster.ts';
import { broadcasterOptionsDefinition } from '../broadcaster/options.ts';
import { StreamKeyStore } from '../broadcaster/stream-keys.ts';
import type { OptionsDefinition, OptionsOf, OptionTable } from '../config/option-table.ts';
import { createOrchestrator } from '../orchestrator/orchestrator.ts';
import { orchestratorOptionsDefinition } from '../orchestrator/options.ts';
import { createRelay } from '../relay/relay.ts';
import { relayOptionsDefinition } from '../relay/options.ts';
import { createTranscoder } from '../transcoder/transcoder.ts';
import { transcoderOptionsDefinition } from '../transcoder/options.ts';
import { detectEncoder } from '../transcoder/encoder-detection.ts';
import { createLogger } from '../observability/logger.ts';
import { loadOrCreateIdentity } from '../protocol/identity.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import { devOptionsDefinition, runDev } from './dev.ts';
import { helpText, parseFlags, resolveOptions } from './options.ts';

interface Running {
  stop(): Promise<void>;
}

interface Role<T extends OptionTable> {
  name: string;
  summary: string;
  /** One line in `castnet --help`. */
  brief: string;
  options: OptionsDefinition<T>;
  /** More --help text that needs to look at this machine. */
  moreHelp?: () => Promise<string>;
  run(options: OptionsOf<T>): Promise<Running>;
}

interface Command {
  name: string;
  brief: string;
  help(): Promise<string>;
  start(argv: string[]): Promise<Running>;
}

function role<T extends OptionTable>(r: Role<T>): Command {
  return {
    name: r.name,
    brief: r.brief,
    async help() {
      return `${helpText(r.name, r.summary, r.options)}\n${r.moreHelp ? `\n${await r.moreHelp()}\n` : ''}`;
    },
    start: (argv) => r.run(resolveOptions(r.options, argv)),
  };
}

async function started(node: Running & { start(): Promise<void> }): Promise<Running> {
  await node.start();
  return node;
}

const roles: Command[] = [
  role({
    name: 'dev',
    brief: 'a whole network on loopback with a demo stream (what npm start runs)',
    summary: 'Starts an orchestrator, a transcoder, a relay and a broadcaster on loopback, with a demo stream.',
    options: devOptionsDefinition,
    run: runDev,
  }),
  role({
    name: 'orchestrator',
    brief: 'node registry, stream assignment and directory',
    summary: 'Node registry, stream assignment and the public stream directory.',
    options: orchestratorOptionsDefinition,
    run: async (options) => started(await createOrchestrator(options, { logger: createLogger() })),
  }),
  role({
    name: 'transcoder',
    brief: 'transcodes segments into the rendition ladder',
    summary: 'Transcodes each segment it is sent into the rendition ladder with FFmpeg.',
    options: transcoderOptionsDefinition,
    moreHelp: async () => {
      const detected = await detectEncoder('auto');
      return `Encoder detected on this machine: ${detected.encoder} (${detected.reason})`;
    },
    run: async (options) => started(await createTranscoder(options, { logger: createLogger() })),
  }),
  role({
    name: 'relay',
    brief: 'HLS origin: playlists, segments, player and embed pages',
    summary: 'HLS origin: stores pushed segments in a live window and serves playlists, segments and the player.',
    options: relayOptionsDefinition,
    run: async (options) => started(await createRelay(options, { logger: createLogger() })),
  }),
  role({
    name: 'broadcaster',
    brief: 'RTMP ingest with stream keys',
    summary: 'RTMP ingest: publish to rtmp://<host>:<rtmp-port>/live/<stream key>.',
    options: broadcasterOptionsDefinition,
    run: async (options) => started(await createBroadcaster(options, { logger: createLogger() })),
  }),
];

const usage = `Usage: castnet <command> [options]

Commands:
${roles.map((r) => `  ${r.name.padEnd(15)}${r.brief}`).join('\n')}
  keys add|list  manage stream keys (--data-dir)
  wallet         this machine's payment addresses and their ledger balances
  deposit <wei>  fund the broadcaster's tickets in the ledger (--reserve <wei>)

castnet <command> --help lists a command's options, their defaults and environment variables.
castnet --version prints the version.`;

function version(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

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
  const roleCommand = roles.find((r) => r.name === command);
  if (roleCommand) {
    if (wantsHelp) {
      process.stdout.write(await roleCommand.help());
      return;
    }
    const running = await roleCommand.start(rest);
    runUntilSignal(() => running.stop());
    return;
  }
  switch (command) {
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
      const ledger = new OrchestratorClient(orchestrator);
      if (command === 'deposit') {
        const amount = positional[0];
        const reserve = String(flags.get('reserve') ?? '0');
        if (!amount || !/^\d+$/.test(amount) || !/^\d+$/.test(reserve)) throw new Error('usage: castnet deposit <wei> [--reserve <wei>]');
        const { address } = loadOrCreateIdentity(dataDir, 'broadcaster');
        const a = await ledger.deposit(address, BigInt(amount), BigInt(reserve));
        process.stdout.write(`funded ${address}: deposit ${a.deposit} wei, reserve ${a.reserve} wei\n`);
        return;
      }
      for (const role of ['broadcaster', 'transcoder']) {
        const { address } = loadOrCreateIdentity(dataDir, role);
        const a = await ledger.account(address).catch((err: Error) => ({ error: err.message }));
        const line = 'error' in a ? `(${a.error})` : `deposit ${a.deposit} wei, reserve ${a.reserve} wei, earned ${a.earned} wei, spent ${a.spent} wei`;
        process.stdout.write(`${role.padEnd(12)} ${address}  ${line}\n`);
      }
      return;
    }
    case '--version':
    case '-v':
    case 'version':
      process.stdout.write(`castnet ${version()}\n`);
      return;
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
