// `castnet dev`: a whole Castnet network on loopback in one process (orchestrator, transcoder, relay,
// broadcaster) through the same factories the separate roles use, plus a demo stream.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createBroadcaster } from '../broadcaster/broadcaster.ts';
import { createOrchestrator } from '../orchestrator/orchestrator.ts';
import { createRelay } from '../relay/relay.ts';
import { createTranscoder } from '../transcoder/transcoder.ts';
import { createLogger } from '../observability/logger.ts';
import { DemoStream } from './demo-stream.ts';
import type { OptionSpec } from './options.ts';

export interface DevOptions {
  host: string;
  rtmpPort: number;
  httpPort: number;
  apiPort: number;
  dataDir: string;
  demo: boolean;
  encoder: string;
  logLevel: string;
}

export const defaultDevOptions: DevOptions = {
  host: '127.0.0.1',
  rtmpPort: 1935,
  httpPort: 8080,
  apiPort: 8935,
  dataDir: './.castnet',
  demo: true,
  encoder: 'auto',
  logLevel: 'info',
};

export const devOptionSpecs: ReadonlyArray<OptionSpec<DevOptions>> = [
  { key: 'rtmpPort', flag: 'rtmp-port', description: 'RTMP ingest port (0: any free port)' },
  { key: 'httpPort', flag: 'http-port', description: 'relay port: HLS, watch and embed pages' },
  { key: 'apiPort', flag: 'api-port', description: 'orchestrator API port; the transcoder and broadcaster take the next two' },
  { key: 'dataDir', flag: 'data-dir', description: 'where state that survives a restart lives (stream keys, logs)' },
  { key: 'demo', flag: 'demo', description: 'push a demo test pattern so the watch page plays at once (--no-demo: off)' },
  { key: 'encoder', flag: 'encoder', description: 'video encoder: auto, libx264 or h264_nvenc' },
  { key: 'host', flag: 'host', description: 'address every node listens on' },
  { key: 'logLevel', flag: 'log-level', description: 'log level of the log file' },
];

const DEV_DEPOSIT = 10n ** 18n;
const DEV_RESERVE = 10n ** 17n;

interface DevKeys {
  obs: string;
  demo: string;
}

export async function runDev(options: DevOptions): Promise<{ stop(): Promise<void> }> {
  const dataDir = resolve(options.dataDir);
  const logFile = join(dataDir, 'castnet.log');
  const logger = createLogger({ level: options.logLevel, file: logFile });
  const next = (offset: number) => (options.apiPort === 0 ? 0 : options.apiPort + offset);

  const orchestrator = await createOrchestrator({ host: options.host, port: options.apiPort, dataDir }, { logger });
  await orchestrator.start();
  const transcoder = await createTranscoder({ host: options.host, port: next(1), orchestrator: orchestrator.url, encoder: options.encoder as 'auto', dataDir }, { logger });
  const relay = await createRelay({ host: options.host, port: options.httpPort, orchestrator: orchestrator.url, dataDir }, { logger });
  const broadcaster = await createBroadcaster({ host: options.host, rtmpPort: options.rtmpPort, httpPort: next(2), orchestrator: orchestrator.url, dataDir, dev: true }, { logger });
  await Promise.all([transcoder.start(), relay.start(), broadcaster.start()]);
  // The dev ledger funds the local broadcaster so streams are paid for from the first segment.
  if (orchestrator.ledger.account(broadcaster.paymentAddress).deposit === 0n) orchestrator.ledger.fund(broadcaster.paymentAddress, DEV_DEPOSIT, DEV_RESERVE);
  const funds = orchestrator.ledger.account(broadcaster.paymentAddress);

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
    `                     pays transcoder ${transcoder.payments.recipient} ${transcoder.payments.pricePerPixel} wei/pixel; ledger ${orchestrator.url}/api/ledger/accounts`,
    `  Stream directory   ${orchestrator.url}/api/streams`,
    `  Nodes              ${orchestrator.url}/api/nodes`,
    `  Metrics            ${orchestrator.url}/metrics  ${transcoder.url}/metrics  ${relay.url}/metrics  ${broadcaster.httpUrl}/metrics`,
    `  Logs               ${logFile}`,
    '',
    'Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(lines.join('\n'));

  let stopping: Promise<void> | null = null;
  return {
    stop() {
      stopping ??= (async () => {
        demo?.stop();
        await broadcaster.stop();
        await Promise.all([transcoder.stop(), relay.stop()]);
        await orchestrator.stop();
        logger.flush();
      })();
      return stopping;
    },
  };
}
