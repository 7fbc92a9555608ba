// Test support: a whole Castnet network in this process through the role factories, on ephemeral loopback
// ports with a temporary data directory, and real FFmpeg publishers.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBroadcaster, type Broadcaster, type BroadcasterOptions } from '../../broadcaster/broadcaster.ts';
import { createOrchestrator, type Orchestrator, type OrchestratorOptions } from '../../orchestrator/orchestrator.ts';
import { createRelay, type Relay, type RelayOptions } from '../../relay/relay.ts';
import type { Logger } from '../../observability/logger.ts';
import { createTranscoder, type Transcoder, type TranscoderOptions } from '../../transcoder/transcoder.ts';
import { ffmpegBinaries } from '../../media/ffmpeg-binaries.ts';
import { testPatternArgs, type TestPatternOptions } from '../../media/test-pattern.ts';
import { createLogger } from '../../observability/logger.ts';
import type { DevChain } from '../../settlement/dev-chain.ts';
import { readKeyFile } from '../../cli/wallet.ts';
import { OrchestratorClient } from '../../protocol/orchestrator-client.ts';
import { waitFor, within } from './wait.ts';

export { waitFor, within };

export const testLogger = createLogger({ level: process.env.CASTNET_TEST_LOG_LEVEL ?? 'silent' });


export interface TestNetwork {
  orchestrator: Orchestrator;
  transcoder: Transcoder;
  relay: Relay;
  broadcaster: Broadcaster;
  dataDir: string;
  close(): Promise<void>;
}

export async function startNetwork(
  broadcasterOptions: Partial<BroadcasterOptions> = {},
  transcoderOptions: Partial<TranscoderOptions> = {},
  deposit = 10n ** 18n,
  options: { transcoder?: boolean; relay?: boolean; chain?: DevChain; relayOptions?: Partial<RelayOptions>; relayLogger?: Logger; orchestratorOptions?: Partial<OrchestratorOptions> } = {},
): Promise<TestNetwork> {
  const dataDir = mkdtempSync(join(tmpdir(), 'castnet-test-'));
  const logger = testLogger;
  // On a chain, every role that touches money settles at its broker; otherwise at the orchestrator's ledger.
  const settlement = options.chain ? { settlement: 'chain' as const, chainRpc: options.chain.rpcUrl, broker: options.chain.broker } : {};
  // Every node is on loopback: the roles that reach nodes they did not configure allow private addresses.
  const orchestrator = await createOrchestrator({ httpPort: 0, dataDir: null, heartbeatIntervalMs: 500, nodeTimeoutMs: 3_000, allowPrivateNodes: true, ...settlement, ...options.orchestratorOptions }, { logger });
  await orchestrator.start();
  const transcoder = await createTranscoder({ httpPort: 0, orchestrator: orchestrator.url, encoder: 'libx264', dataDir: null, ...settlement, ...transcoderOptions }, { logger });
  const relay = await createRelay({ httpPort: 0, dataDir: null, orchestrator: orchestrator.url, allowPrivateNodes: true, ...options.relayOptions }, { logger: options.relayLogger ?? logger });
  const broadcaster = await createBroadcaster({ rtmpPort: 0, httpPort: 0, orchestrator: orchestrator.url, dataDir, dev: true, reconnectGraceMs: 5_000, allowPrivateNodes: true, ...settlement, ...broadcasterOptions }, { logger });
  // The transcoder pays gas for its redemptions.
  if (options.chain) await options.chain.sendEth(transcoder.payments.recipient, 10n ** 18n);
  const network: TestNetwork = {
    orchestrator,
    transcoder,
    relay,
    broadcaster,
    dataDir,
    // Stops whatever nodes the test left in the fields (a test may replace one).
    async close() {
      await network.broadcaster.stop();
      // A transcoder stops without waiting for the FFmpeg jobs in flight, which would then outlive the test
      // (and their temporary directories with them). One that is not listening has none.
      const inFlight = () => metric(network.transcoder.url, /^castnet_transcoder_segments_in_flight[ {]/).catch(() => 0);
      await waitFor('the transcodes in flight to finish', async () => (await inFlight()) === 0, 15_000, 100);
      await Promise.all([network.transcoder.stop(), network.relay.stop()]);
      await network.orchestrator.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all([options.transcoder === false ? Promise.resolve() : transcoder.start(), options.relay === false ? Promise.resolve() : relay.start(), broadcaster.start()]);
  } catch (err) {
    // A network that failed halfway leaves nothing listening behind it.
    await network.close().catch(() => {});
    throw err;
  }
  if (deposit > 0n) {
    if (options.chain) await options.chain.fund(broadcaster.paymentAddress, deposit, 0n);
    else orchestrator.ledger!.fund(broadcaster.paymentAddress, deposit);
  }
  // Nodes are scheduled once they proved their URL: a stream published now finds them.
  const started = [...(options.transcoder === false ? [] : [transcoder.url]), ...(options.relay === false ? [] : [relay.url])];
  await waitFor('the nodes to prove their URLs', () => started.every((url) => orchestrator.nodes.schedulable().some((n) => n.url === url)), 10_000, 20);
  return network;
}

/** A client signing as the operator of an orchestrator process whose data directory is `orchestratorDataDir`. */
export function operatorClient(orchestratorUrl: string, orchestratorDataDir: string): OrchestratorClient {
  const identity = readKeyFile(join(orchestratorDataDir, 'keys', 'operator.key'));
  if (!identity) throw new Error(`no operator key in ${orchestratorDataDir}/keys: has the orchestrator started?`);
  return new OrchestratorClient(orchestratorUrl, { identity });
}

/** Waits until the orchestrator schedules a node at `url` (it registered and proved its URL). */
export function waitForActive(orchestratorUrl: string, url: string, timeoutMs = 15_000): Promise<true> {
  return waitFor(`${url} active at the orchestrator`, async () => {
    const nodes = JSON.parse((await getText(`${orchestratorUrl}/api/nodes`)).text) as Array<{ url: string; state: string }>;
    return nodes.some((n) => n.url === url && n.state === 'active') || undefined;
  }, timeoutMs, 100);
}

/** Stops a test's publishers, then its network: what every streaming test does after each case. */
export async function stopAll(publishers: Publisher[], net: TestNetwork | undefined): Promise<void> {
  await Promise.all(publishers.splice(0).map((p) => p.stop()));
  await net?.close();
}

/**
 * Publishes a short stream to a paid network and waits until the publication has drained and every ticket
 * the broadcaster sent is redeemed (all win when ticketEv = faceValue); answers the run's payment figures.
 */
export async function streamPaidSegments(net: TestNetwork, streamKey: string, publishers: Publisher[], redeemTimeoutMs = 15_000): Promise<{ tickets: number; segments: number; price: bigint; ev: bigint }> {
  const p = publish(`${net.broadcaster.rtmpUrl}/${streamKey}`, { seconds: 9 });
  publishers.push(p);
  await p.exited;
  const transcoder = net.transcoder.url;
  const broadcaster = net.broadcaster.httpUrl;
  const transcoded = /^castnet_transcoder_segments_transcoded_total\{[^}]*result="ok"/;
  await waitFor('segments to be transcoded', async () => (await metric(transcoder, transcoded)) >= 4, 20_000);
  // The broadcaster counts a publication as over once its last segments are transcoded, paid for and
  // published: from then on the number of tickets sent no longer moves.
  await waitFor('the publication to end and drain', async () => (await metric(broadcaster, /^castnet_broadcaster_active_streams[ {]/)) === 0, 20_000);
  const tickets = await metric(broadcaster, /^castnet_broadcaster_tickets_sent_total/);
  await waitFor('every winner to be redeemed', async () => (await metric(transcoder, /^castnet_transcoder_redemptions_total\{[^}]*outcome="redeemed"/)) === tickets, redeemTimeoutMs);
  return {
    tickets,
    segments: await metric(transcoder, transcoded),
    price: BigInt(await metric(transcoder, /^castnet_transcoder_price_charged_wei_total/)),
    ev: BigInt(await metric(broadcaster, /^castnet_broadcaster_expected_value_sent_wei_total/)),
  };
}

export interface Publisher {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** A real RTMP publisher: FFmpeg pushing a test pattern in real time. */
export function publish(
  url: string,
  options: { seconds?: number; width?: number; height?: number } & Pick<TestPatternOptions, 'keyint' | 'bFrames' | 'pixFmt' | 'profile'> = {},
): Publisher {
  const { seconds, width, height, ...encoding } = options;
  const args = testPatternArgs({ width: width ?? 640, height: height ?? 360, fps: 30, seconds: seconds ?? 0, output: url, realtime: true, videoBitrate: '1000k', ...encoding });
  const child = spawn(ffmpegBinaries().ffmpeg, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stderr: () => stderr,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export async function getText(url: string): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** The sum of every sample of a metric (all label sets) matching `pattern` at a node's /metrics. */
export async function metric(nodeUrl: string, pattern: RegExp): Promise<number> {
  const { text } = await getText(`${nodeUrl}/metrics`);
  return text
    .split('\n')
    .filter((l) => pattern.test(l))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

/** Processes (Linux /proc) whose command line names something under `dir`. */
function processesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'latin1').includes(dir)) pids.push(Number(entry));
    } catch {
      // It exited while we looked.
    }
  }
  return pids;
}

/**
 * Ends what a node process left running in its temporary directory, then removes it. A node killed with
 * SIGKILL (a crash) leaves its FFmpeg jobs orphaned, as does one that exits while transcoding; giving
 * each node its own TMPDIR lets the test find them by path.
 */
export async function reapTempDir(dir: string): Promise<void> {
  for (const pid of processesUnder(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await waitFor(`the processes left in ${dir} to exit`, () => processesUnder(dir).length === 0, 5_000, 50);
  rmSync(dir, { recursive: true, force: true });
}

export interface NodeProcess {
  url: string;
  child: ChildProcess;
  /** Stops it: SIGKILL by default, as a crash would. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** A role as its own OS process through the real CLI (`castnet <role> …`); its URL is read from its startup log. */
export async function spawnNode(role: 'transcoder' | 'relay' | 'orchestrator', args: string[]): Promise<NodeProcess> {
  const { match, child, kill } = await spawnRole(role, args, /"url":"(http:\/\/[^"]+)"[^\n]*listening/);
  return { url: match[1]!, child, kill };
}

/** A broadcaster as its own OS process (`castnet broadcaster …`): its HTTP URL and its RTMP URL (…/live), from its startup log. */
export async function spawnBroadcaster(args: string[]): Promise<NodeProcess & { rtmpUrl: string }> {
  const { match, child, kill } = await spawnRole('broadcaster', args, /"rtmp":"(rtmp:\/\/[^"]+)","http":"(http:\/\/[^"]+)"[^\n]*listening/);
  return { url: match[2]!, rtmpUrl: match[1]!, child, kill };
}

async function spawnRole(role: string, args: string[], listening: RegExp): Promise<{ match: RegExpExecArray; child: ChildProcess; kill: NodeProcess['kill'] }> {
  const tmp = mkdtempSync(join(tmpdir(), `castnet-${role}-tmp-`));
  const child = spawn(process.execPath, ['bin/castnet.js', role, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CASTNET_LOG_LEVEL: 'info', TMPDIR: tmp } });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  // Listened for from the start: a process that dies before it listens must not leave kill() waiting forever.
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
    await reapTempDir(tmp);
  };
  try {
    const match = await waitFor(`${role} process to listen`, () => (child.exitCode !== null ? Promise.reject(new Error(`exited with ${child.exitCode}: ${output.slice(-500)}`)) : (listening.exec(output) ?? undefined)), 30_000, 50);
    return { match, child, kill };
  } catch (err) {
    await kill();
    throw err;
  }
}
