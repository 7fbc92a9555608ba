// A local Ethereum chain for `castnet dev --settlement chain`, tests and benchmarks: anvil, from the
// @foundry-rs/anvil npm package (its per-platform optional dependency carries the binary, so nothing is
// downloaded at run time), on 127.0.0.1 and a free port, with its prefunded accounts read from the
// config file anvil writes. The binary is run directly, not through the package's Node wrapper, so
// stopping (or a test's kill) reaches anvil itself.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CastnetError } from '../protocol/errors.ts';

const STARTUP_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 3_000;

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

/** The anvil binary installed by npm for this platform; throws naming the package when it is missing. */
export function anvilBinary(): string {
  const pkg = `@foundry-rs/anvil-${process.platform}-${ARCH[process.arch] ?? process.arch}`;
  try {
    return join(dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`)), 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil');
  } catch {
    throw new CastnetError('UNAVAILABLE', `anvil is not installed for ${process.platform}-${process.arch}: npm installs it with @foundry-rs/anvil (package ${pkg}); run npm install`);
  }
}

export interface AnvilOptions {
  /** Seconds between blocks; 0 (the default): a block for each transaction, as soon as it arrives. */
  blockTimeSeconds?: number;
  chainId?: number;
}

export interface Anvil {
  readonly rpcUrl: string;
  readonly chainId: number;
  /** Prefunded accounts' private keys (0x hex), 10,000 ETH each. */
  readonly privateKeys: readonly `0x${string}`[];
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export async function startAnvil(options: AnvilOptions = {}): Promise<Anvil> {
  const dir = mkdtempSync(join(tmpdir(), 'castnet-anvil-'));
  const configFile = join(dir, 'accounts.json');
  const chainId = options.chainId ?? 31_337;
  const args = ['--host', '127.0.0.1', '--port', '0', '--chain-id', String(chainId), '--config-out', configFile, '--accounts', '10'];
  if (options.blockTimeSeconds) args.push('--block-time', String(options.blockTimeSeconds));
  const child = spawn(anvilBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const rpcUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new CastnetError('UNAVAILABLE', `anvil did not start within ${STARTUP_TIMEOUT_MS} ms: ${output.slice(-500)}`)), STARTUP_TIMEOUT_MS);
    const onData = (d: Buffer) => {
      output += d.toString();
      const listening = /Listening on (\S+:\d+)/.exec(output);
      if (listening) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(`http://${listening[1]}`);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new CastnetError('UNAVAILABLE', `anvil could not be started: ${err.message}`, {}, { cause: err }));
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new CastnetError('UNAVAILABLE', `anvil exited with ${code} before listening: ${output.slice(-500)}`));
    });
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  // Anvil keeps writing its log to stdout; it is not read, so drain it.
  child.stdout!.resume();
  child.stderr!.resume();
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as { private_keys: `0x${string}`[] };
  rmSync(dir, { recursive: true, force: true });
  let stopping: Promise<void> | null = null;
  return {
    rpcUrl,
    chainId,
    privateKeys: config.private_keys,
    process: child,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}
