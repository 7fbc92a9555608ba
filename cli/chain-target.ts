// Which settlement a money command (`castnet wallet`, `deposit`, `withdraw`, `unlock`) talks to: the
// orchestrator's ledger (--orchestrator), or the TicketBroker named by --chain-rpc and --broker. A
// `castnet dev --settlement chain` network writes its chain's address to <data-dir>/dev-chain.json, so
// commands run against the same data directory find it without the flags.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { defaultBroadcasterOptions } from '../broadcaster/options.ts';
import { ChainSettlement } from '../settlement/chain-settlement.ts';
import { LedgerSettlement } from '../settlement/ledger-settlement.ts';
import type { Settlement } from '../settlement/settlement.ts';

const DEV_CHAIN_FILE = 'dev-chain.json';

export interface ChainTarget {
  chainRpc: string;
  broker: string;
}

export function writeDevChainFile(dataDir: string, target: ChainTarget): void {
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, DEV_CHAIN_FILE), `${JSON.stringify(target, null, 2)}\n`);
}

function readDevChainFile(dataDir: string): ChainTarget | null {
  try {
    const t = JSON.parse(readFileSync(join(dataDir, DEV_CHAIN_FILE), 'utf8')) as Partial<ChainTarget>;
    return typeof t.chainRpc === 'string' && typeof t.broker === 'string' ? { chainRpc: t.chainRpc, broker: t.broker } : null;
  } catch {
    return null;
  }
}

const setting = (flags: Map<string, string | boolean>, flag: string): string | undefined => {
  const v = flags.get(flag) ?? process.env[`CASTNET_${flag.replace(/-/g, '_').toUpperCase()}`];
  return v === undefined || v === true || v === false ? undefined : String(v);
};

export function orchestratorFrom(flags: Map<string, string | boolean>): string {
  return (setting(flags, 'orchestrator') ?? defaultBroadcasterOptions.orchestrator).replace(/\/$/, '');
}

/** The settlement the flags (then CASTNET_* variables, then the dev chain file) name. */
export function settlementFrom(flags: Map<string, string | boolean>, dataDir: string): Settlement {
  const mode = setting(flags, 'settlement') ?? 'ledger';
  if (mode === 'ledger') return new LedgerSettlement(orchestratorFrom(flags));
  if (mode !== 'chain') throw new Error(`--settlement takes ledger or chain, not "${mode}"`);
  const dev = readDevChainFile(dataDir);
  const chainRpc = setting(flags, 'chain-rpc') ?? dev?.chainRpc;
  const broker = setting(flags, 'broker') ?? dev?.broker;
  if (!chainRpc || !broker) throw new Error(`--settlement chain needs --chain-rpc <url> and --broker <address> (castnet dev --settlement chain writes them to ${join(dataDir, DEV_CHAIN_FILE)})`);
  if (!/^https?:\/\//.test(chainRpc)) throw new Error(`--chain-rpc takes an http(s) URL, not "${chainRpc}"`);
  if (!/^0x[0-9a-fA-F]{40}$/.test(broker)) throw new Error(`--broker takes an address (0x and 40 hex digits), not "${broker}"`);
  return new ChainSettlement({ rpcUrl: chainRpc, broker, confirmations: 1 });
}
