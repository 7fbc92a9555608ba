// `castnet dev`: a whole Castnet network on loopback in one process (orchestrator, transcoder, relay,
// broadcaster) through the same factories the separate roles use, plus a demo stream. Money settles at the
// orchestrator's embedded ledger, or with --settlement chain on a local anvil chain started here, with the
// TicketBroker deployed and the broadcaster and transcoder funded from anvil's prefunded accounts.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createBroadcaster } from '../broadcaster/broadcaster.ts';
import { createOrchestrator } from '../orchestrator/orchestrator.ts';
import { createRelay } from '../relay/relay.ts';
import { createTranscoder } from '../transcoder/transcoder.ts';
import { createLogger } from '../observability/logger.ts';
import { DemoStream } from './demo-stream.ts';
import { followStreams } from './dev-console.ts';
import { z } from 'zod';
import { defineOptions, flag, option, port, text, type OptionsOf } from '../config/option-table.ts';
import { transcoderOptionsDefinition } from '../transcoder/options.ts';
import { startDevChain, type DevChain } from '../settlement/dev-chain.ts';
import { loadOrCreateIdentity } from '../protocol/identity.ts';
import { writeDevChainFile } from './chain-target.ts';
import { streamKeyIssuer } from './stream-key-issuer.ts';

export const devOptionsDefinition = defineOptions(
  {
    rtmpPort: option({ flag: 'rtmp-port', schema: port, default: 1935, description: 'RTMP ingest port (0: any free port)' }),
    httpPort: option({ flag: 'http-port', schema: port, default: 8080, description: 'relay port: HLS, watch and embed pages' }),
    orchestratorPort: option({ flag: 'orchestrator-port', schema: port, default: 8935, description: 'orchestrator HTTP port; the transcoder and broadcaster take the next two', deprecatedFlags: ['api-port'] }),
    dataDir: option({ flag: 'data-dir', schema: text, default: './.castnet', description: 'where state that survives a restart lives (stream keys, logs)' }),
    demo: option({ flag: 'demo', schema: flag, default: true, description: 'push a demo test pattern so the watch page plays at once (--no-demo: off)' }),
    encoder: option({ flag: 'encoder', schema: transcoderOptionsDefinition.table.encoder.schema, default: 'auto', description: 'video encoder: auto, libx264 or h264_nvenc' }),
    host: option({ flag: 'host', schema: text, default: '127.0.0.1', description: 'address every node listens on' }),
    settlement: option({
      flag: 'settlement',
      schema: z.enum(['ledger', 'chain'], { error: 'takes ledger or chain' }),
      default: 'ledger' as 'ledger' | 'chain',
      description: "ledger: the orchestrator's embedded ledger; chain: a local anvil chain with the TicketBroker deployed (started and stopped with the network)",
    }),
    logLevel: option({ flag: 'log-level', schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'takes fatal, error, warn, info, debug, trace or silent' }), default: 'info', description: 'log level of the log file' }),
  },
  [
    (o) => {
      const taken = [o.rtmpPort, o.httpPort, ...(o.orchestratorPort === 0 ? [] : [o.orchestratorPort, o.orchestratorPort + 1, o.orchestratorPort + 2])].filter((p) => p !== 0);
      if (o.orchestratorPort > 65_533) return `--orchestrator-port ${o.orchestratorPort} leaves no room for the transcoder and broadcaster (the next two ports)`;
      return new Set(taken).size < taken.length
        ? `ports collide: --rtmp-port ${o.rtmpPort}, --http-port ${o.httpPort}, and --orchestrator-port ${o.orchestratorPort} with the next two for the transcoder and broadcaster`
        : null;
    },
  ],
);

export interface DevOptions extends OptionsOf<typeof devOptionsDefinition.table> {}

const DEV_DEPOSIT = 10n ** 18n;
const DEV_RESERVE = 10n ** 17n;
/** Gas money for the dev keys that send transactions on the dev chain. */
const DEV_GAS_WEI = 10n * 10n ** 18n;

interface DevKeys {
  obs: string;
  demo: string;
}

export async function runDev(options: DevOptions): Promise<{ stop(): Promise<void> }> {
  const dataDir = resolve(options.dataDir);
  const logFile = join(dataDir, 'castnet.log');
  const logger = createLogger({ level: options.logLevel, file: logFile });
  const next = (offset: number) => (options.orchestratorPort === 0 ? 0 : options.orchestratorPort + offset);

  let chain: DevChain | null = null;
  if (options.settlement === 'chain') {
    // One block a second, as a public chain would mine, so confirmations and expiry run as they would there.
    chain = await startDevChain({ blockTimeSeconds: 1 });
    writeDevChainFile(dataDir, { chainRpc: chain.rpcUrl, broker: chain.broker });
    logger.info({ rpc: chain.rpcUrl, broker: chain.broker }, 'dev chain up: anvil with the TicketBroker deployed');
  }
  const settlement = chain ? { settlement: 'chain' as const, chainRpc: chain.rpcUrl, broker: chain.broker } : {};
  let orchestrator;
  try {
    // Every node is on this machine, so loopback URLs are the point (--allow-private-nodes on each role).
    orchestrator = await createOrchestrator({ host: options.host, httpPort: options.orchestratorPort, dataDir, allowPrivateNodes: true, ...settlement }, { logger });
    await orchestrator.start();
  } catch (err) {
    await chain?.stop();
    throw err;
  }
  if (chain) {
    // Keys that send transactions get gas money from anvil's first account before anything uses them.
    for (const role of ['broadcaster', 'transcoder'] as const) await chain.sendEth(loadOrCreateIdentity(dataDir, role).address, DEV_GAS_WEI);
  }
  const transcoder = await createTranscoder({ host: options.host, httpPort: next(1), orchestrator: orchestrator.url, encoder: options.encoder, dataDir, ...settlement }, { logger });
  const relay = await createRelay({ host: options.host, httpPort: options.httpPort, orchestrator: orchestrator.url, dataDir, allowPrivateNodes: true, recording: true }, { logger });
  const broadcaster = await createBroadcaster({ host: options.host, rtmpPort: options.rtmpPort, httpPort: next(2), orchestrator: orchestrator.url, dataDir, dev: true, allowPrivateNodes: true, ...settlement }, { logger });
  // The dev network funds the local broadcaster so streams are paid for from the first segment: in the
  // ledger, or on chain with a transaction from the broadcaster's own key (what castnet deposit sends).
  if (chain) await broadcaster.settlement.fund(loadOrCreateIdentity(dataDir, 'broadcaster'), broadcaster.paymentAddress, DEV_DEPOSIT, DEV_RESERVE);
  else if (orchestrator.ledger!.account(broadcaster.paymentAddress).deposit === 0n) orchestrator.ledger!.fund(broadcaster.paymentAddress, DEV_DEPOSIT, DEV_RESERVE);
  await Promise.all([transcoder.start(), relay.start(), broadcaster.start()]);
  const funds = await broadcaster.settlement.senderFunds(broadcaster.paymentAddress);
  orchestrator.attachStreamKeys(streamKeyIssuer(broadcaster, relay.url, 'dev'));

  // Keys stay the same across restarts, so bookmarked watch pages and OBS settings keep working.
  const keysFile = join(dataDir, 'dev-keys.json');
  let devKeys: DevKeys;
  try {
    devKeys = JSON.parse(readFileSync(keysFile, 'utf8')) as DevKeys;
  } catch {
    devKeys = { obs: broadcaster.keys.add(undefined, undefined, 'dev').streamKey, demo: broadcaster.keys.add(undefined, undefined, 'dev').streamKey };
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(keysFile, JSON.stringify(devKeys, null, 2), { mode: 0o600 });
  }
  const obsPlayback = broadcaster.keys.resolve(devKeys.obs);
  const demoPlayback = broadcaster.keys.resolve(devKeys.demo);

  const demo = options.demo ? new DemoStream(`${broadcaster.rtmpUrl}/${devKeys.demo}`, logger) : null;
  demo?.start();

  const lines = [
    '',
    'Castnet dev network is up: orchestrator, transcoder (' + transcoder.encoder.encoder + '), relay and broadcaster on loopback.',
    '',
    `  Stream from OBS    Server: ${broadcaster.rtmpUrl}`,
    `                     Stream key: ${devKeys.obs}`,
    `  or with ffmpeg     ffmpeg -re -i input.mp4 -c:v libx264 -g 60 -c:a aac -f flv ${broadcaster.rtmpUrl}/${devKeys.obs}`,
    `  Watch it at        ${relay.url}/watch/${obsPlayback}`,
    '',
    ...(demo ? [`  Demo stream        ${relay.url}/watch/${demoPlayback}`, ''] : []),
    `  Embed              <iframe src="${relay.url}/embed/${obsPlayback}" width="960" height="540" allow="autoplay; fullscreen" allowfullscreen></iframe>`,
    `  Payments           broadcaster ${broadcaster.paymentAddress} (deposit ${funds.deposit} wei, reserve ${funds.reserve} wei)`,
    `                     pays transcoder ${transcoder.payments.recipient} ${transcoder.payments.pricePerPixel} wei/pixel; ${chain ? `on chain: TicketBroker ${chain.broker}` : `ledger ${orchestrator.url}/api/ledger/accounts`}`,
    ...(chain ? [`  Chain              anvil ${chain.rpcUrl} (chain ${chain.anvil.chainId}); balances: npx castnet wallet --settlement chain --data-dir ${options.dataDir}`] : []),
    `  Operator key       ${join(dataDir, 'keys', 'operator.key')} (${orchestrator.operator.address}): signs ${chain ? 'admission' : 'deposits and admission'}`,
    `                     ${chain ? '' : `castnet deposit <wei> --data-dir ${dataDir}; `}castnet nodes list|allow|deny --data-dir ${dataDir}`,
    `  Dashboard          ${orchestrator.url}/dashboard`,
    `                     admin token (creates stream keys there): ${orchestrator.adminToken}  (castnet keys admin-token --data-dir ${options.dataDir})`,
    `  Stream directory   ${orchestrator.url}/api/streams`,
    `  Nodes              ${orchestrator.url}/api/nodes`,
    `  Metrics            ${orchestrator.url}/metrics  ${transcoder.url}/metrics  ${relay.url}/metrics  ${broadcaster.httpUrl}/metrics`,
    `  Logs               ${logFile}`,
    '',
    'Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(lines.join('\n'));
  followStreams(broadcaster.streams, { watchUrl: (id) => `${relay.url}/watch/${id}`, write: (line) => process.stdout.write(`${line}\n`) });

  let stopping: Promise<void> | null = null;
  return {
    stop() {
      stopping ??= (async () => {
        demo?.stop();
        await broadcaster.stop();
        await Promise.all([transcoder.stop(), relay.stop()]);
        await orchestrator.stop();
        await chain?.stop();
        logger.flush();
      })();
      return stopping;
    },
  };
}
