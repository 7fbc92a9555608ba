// `castnet <command>`: a table of roles, each with its summary, options definition and factory; parses the
// command line into the role's options and runs it until SIGINT/SIGTERM.

import { readFileSync } from 'node:fs';
import { createBroadcaster } from '../broadcaster/broadcaster.ts';
import { broadcasterOptionsDefinition } from '../broadcaster/options.ts';
import type { OptionsDefinition, OptionsOf, OptionTable } from '../config/option-table.ts';
import { createOrchestrator } from '../orchestrator/orchestrator.ts';
import { orchestratorOptionsDefinition } from '../orchestrator/options.ts';
import { createRelay } from '../relay/relay.ts';
import { relayOptionsDefinition } from '../relay/options.ts';
import { createTranscoder } from '../transcoder/transcoder.ts';
import { transcoderOptionsDefinition } from '../transcoder/options.ts';
import { detectEncoder } from '../transcoder/encoder-detection.ts';
import { createLogger } from '../observability/logger.ts';
import { devOptionsDefinition, runDev } from './dev.ts';
import { runKeys } from './keys.ts';
import { runNodes } from './nodes.ts';
import { helpText, resolveOptions } from './options.ts';
import { runStatus } from './status.ts';
import { runDeployBroker } from './deploy-broker.ts';
import { runDeposit, runUnlock, runWallet, runWithdraw } from './wallet.ts';

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
      const detected = await detectEncoder('auto').catch((err: Error) => ({ encoder: 'none', reason: err.message }));
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
  keys           add|list|remove stream keys (a running broadcaster sees changes at once)
  wallet         the payment keys in --data-dir and their balances (ledger, or --settlement chain)
  deposit <wei>  fund a broadcaster's tickets (--reserve <wei>): at the ledger signed by the operator key, or on chain
  nodes          list|allow|deny|clear node keys at the orchestrator (admission, signed by the operator key)
  withdraw       move a transcoder's or relay's earnings out (on chain also a broadcaster's deposit)
  unlock         on chain: start the broadcaster's unlock period before withdrawing its deposit
  deploy-broker  deploy the TicketBroker contract to a chain (--chain-rpc, --key-file)
  status         the nodes and streams the orchestrator knows

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
    if (rest.includes('--version')) {
      process.stdout.write(`castnet ${version()}\n`);
      return;
    }
    if (wantsHelp) {
      process.stdout.write(await roleCommand.help());
      return;
    }
    const running = await roleCommand.start(rest);
    runUntilSignal(() => running.stop());
    return;
  }
  switch (command) {
    case 'keys':
      process.exitCode = await runKeys(rest);
      return;
    case 'wallet':
      process.exitCode = await runWallet(rest);
      return;
    case 'deposit':
      process.exitCode = await runDeposit(rest);
      return;
    case 'nodes':
      process.exitCode = await runNodes(rest);
      return;
    case 'withdraw':
      process.exitCode = await runWithdraw(rest);
      return;
    case 'unlock':
      process.exitCode = await runUnlock(rest);
      return;
    case 'deploy-broker':
      process.exitCode = await runDeployBroker(rest);
      return;
    case 'status':
      process.exitCode = await runStatus(rest);
      return;
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
