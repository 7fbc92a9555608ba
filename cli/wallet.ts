// `castnet wallet`, `castnet deposit` and `castnet withdraw`: the payment keys found in this data directory
// (never created here: a wallet that invents keys shows addresses nothing will ever pay), their balances in
// the ledger, funding the broadcaster's tickets, and moving a transcoder's or relay's earnings out with a
// withdrawal signed by its own key (protocol/withdrawal.ts).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hexToBytes } from '@noble/hashes/utils.js';
import { defaultBroadcasterOptions } from '../broadcaster/options.ts';
import { identityFromPrivateKey, type Identity } from '../protocol/identity.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import { withdrawalRequest } from '../protocol/withdrawal.ts';
import { dataDirFrom } from './keys.ts';
import { parseFlags } from './options.ts';
import { describeRemoteFailure } from './remote-failure.ts';

/** The roles whose payment key lives at `<data-dir>/keys/<role>.key` (protocol/identity.ts). */
export const PAYMENT_ROLES = ['broadcaster', 'transcoder', 'relay'] as const;
export type PaymentRole = (typeof PAYMENT_ROLES)[number];

const WEI_PER_ETH = 10n ** 18n;

/** `0.0012 ETH (1200000000000000 wei)`: ETH units, exact (no float), beside the wei. */
export function formatWei(wei: bigint | string): string {
  const v = BigInt(wei);
  const whole = v / WEI_PER_ETH;
  const fraction = (v % WEI_PER_ETH).toString().padStart(18, '0').replace(/0+$/, '');
  return `${whole}${fraction ? `.${fraction}` : ''} ETH (${v} wei)`;
}

/** The key in `file` when it exists; null when it does not. Reads, never creates. */
export function readKeyFile(file: string): Identity | null {
  let hex: string;
  try {
    hex = readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error(`the key file ${file} is corrupt (not 32 bytes of hex)`);
  return identityFromPrivateKey(hexToBytes(hex));
}

/** The role's identity when its key file exists; null when it does not. Reads, never creates. */
export function findIdentity(dataDir: string, role: PaymentRole): Identity | null {
  return readKeyFile(join(dataDir, 'keys', `${role}.key`));
}

/**
 * The orchestrator operator's key: `--operator-key <file>`, else `<data-dir>/keys/operator.key` (the
 * orchestrator creates it on first start). Deposits and admission changes are signed with it.
 */
export function operatorIdentity(flags: Map<string, string | boolean>, dataDir: string): Identity {
  const given = flags.get('operator-key');
  const file = typeof given === 'string' ? given : join(dataDir, 'keys', 'operator.key');
  const identity = readKeyFile(file);
  if (!identity) {
    throw new Error(`no operator key at ${file}: deposits and admission are signed by the orchestrator's operator key; run this with the orchestrator's --data-dir, or pass --operator-key <file>`);
  }
  return identity;
}

function orchestratorFrom(flags: Map<string, string | boolean>): string {
  return String(flags.get('orchestrator') ?? process.env['CASTNET_ORCHESTRATOR'] ?? defaultBroadcasterOptions.orchestrator).replace(/\/$/, '');
}

export const walletUsage = `Usage: castnet wallet [--data-dir ./.castnet] [--orchestrator URL]
       castnet deposit <wei> [--reserve <wei>] [--to <address>] [--data-dir ./.castnet] [--operator-key <file>] [--orchestrator URL]
       castnet withdraw <wei>|--all --role transcoder|relay [--to <address>] [--data-dir ./.castnet] [--orchestrator URL]

wallet    the payment keys in <data-dir>/keys/ (broadcaster, transcoder, relay) and their ledger balances
deposit   funds a broadcaster's tickets (--to, else the broadcaster key in --data-dir), signed by the
          orchestrator's operator key (<data-dir>/keys/operator.key, or --operator-key): only the operator mints
withdraw  moves earnings out of the ledger, signed by the role's key; --to defaults to its own address
`;

type Out = (s: string) => void;
const stdout: Out = (s) => process.stdout.write(s);

export async function runWallet(argv: string[], out: Out = stdout): Promise<number> {
  const { flags } = parseFlags(argv);
  if (flags.has('help')) {
    out(walletUsage);
    return 0;
  }
  const dataDir = dataDirFrom(flags);
  const base = orchestratorFrom(flags);
  const ledger = new OrchestratorClient(base);
  const found = PAYMENT_ROLES.map((role) => ({ role, identity: findIdentity(dataDir, role) })).filter((k): k is { role: PaymentRole; identity: Identity } => k.identity !== null);
  if (found.length === 0) {
    out(`no payment keys in ${join(dataDir, 'keys')}: a broadcaster, transcoder or relay creates its key on first start (--data-dir ${dataDir})\n`);
    return 1;
  }
  let failed = false;
  for (const { role, identity } of found) {
    out(`${role.padEnd(12)} ${identity.address}\n`);
    try {
      const a = await ledger.account(identity.address);
      const withdrawable = BigInt(a.earned) - BigInt(a.withdrawn);
      const rows: Array<[string, string]> =
        role === 'broadcaster'
          ? [['deposit', a.deposit], ['reserve', a.reserve], ['spent', a.spent]]
          : [['earned', a.earned], ['withdrawn', a.withdrawn], ['withdrawable', withdrawable.toString()]];
      for (const [name, wei] of rows) out(`  ${name.padEnd(13)}${formatWei(wei)}\n`);
    } catch (err) {
      failed = true;
      out(`  ${describeRemoteFailure(err, 'ledger', base)}\n`);
    }
  }
  return failed ? 1 : 0;
}

export async function runDeposit(argv: string[], out: Out = stdout): Promise<number> {
  const { flags, positional } = parseFlags(argv);
  if (flags.has('help')) {
    out(walletUsage);
    return 0;
  }
  const amount = positional[0];
  const reserve = String(flags.get('reserve') ?? '0');
  if (!amount || !/^\d{1,78}$/.test(amount) || !/^\d{1,78}$/.test(reserve)) throw new Error('usage: castnet deposit <wei> [--reserve <wei>]');
  const dataDir = dataDirFrom(flags);
  const toFlag = flags.get('to');
  if (toFlag !== undefined && (typeof toFlag !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(toFlag))) throw new Error(`--to takes an address (0x and 40 hex digits), not "${String(toFlag)}"`);
  let to: string;
  if (typeof toFlag === 'string') to = toFlag.toLowerCase();
  else {
    const broadcaster = findIdentity(dataDir, 'broadcaster');
    if (!broadcaster) throw new Error(`no broadcaster key in ${join(dataDir, 'keys')}: start the broadcaster once with --data-dir ${dataDir} (it creates its key), or name the account with --to`);
    to = broadcaster.address;
  }
  const operator = operatorIdentity(flags, dataDir);
  const base = orchestratorFrom(flags);
  try {
    const a = await new OrchestratorClient(base, { identity: operator }).deposit(to, BigInt(amount), BigInt(reserve));
    out(`funded ${to}\n  deposit      ${formatWei(a.deposit)}\n  reserve      ${formatWei(a.reserve)}\n`);
    return 0;
  } catch (err) {
    throw new Error(describeRemoteFailure(err, 'ledger', base));
  }
}

export async function runWithdraw(argv: string[], out: Out = stdout, now: () => number = Date.now): Promise<number> {
  const { flags, positional } = parseFlags(argv);
  if (flags.has('help')) {
    out(walletUsage);
    return 0;
  }
  const dataDir = dataDirFrom(flags);
  const role = flags.get('role');
  if (role !== 'transcoder' && role !== 'relay') throw new Error('castnet withdraw needs --role transcoder or --role relay: whose earnings to move');
  const identity = findIdentity(dataDir, role);
  if (!identity) throw new Error(`no ${role} key in ${join(dataDir, 'keys')}: withdraw from the data directory the ${role} runs with (--data-dir)`);
  const all = flags.get('all') === true;
  const amountText = positional[0];
  if (all === (amountText !== undefined)) throw new Error('castnet withdraw takes an amount in wei, or --all (not both)');
  if (amountText !== undefined && !/^\d{1,78}$/.test(amountText)) throw new Error(`"${amountText}" is not an amount in wei`);
  const to = String(flags.get('to') ?? identity.address);
  if (!/^0x[0-9a-fA-F]{40}$/.test(to)) throw new Error(`--to takes an address (0x and 40 hex digits), not "${to}"`);
  const base = orchestratorFrom(flags);
  const ledger = new OrchestratorClient(base);
  try {
    let amount = amountText === undefined ? 0n : BigInt(amountText);
    if (all) {
      const a = await ledger.account(identity.address);
      amount = BigInt(a.earned) - BigInt(a.withdrawn);
      if (amount === 0n) {
        out(`nothing to withdraw: ${identity.address} has earned ${formatWei(a.earned)} and withdrawn ${formatWei(a.withdrawn)}\n`);
        return 0;
      }
    }
    const answer = await ledger.withdraw(withdrawalRequest({ address: identity.address, amount, to, timestamp: now() }, identity.privateKey));
    out(`withdrew ${formatWei(answer.amount)} from ${answer.address} to ${answer.to}\n  withdrawn    ${formatWei(answer.withdrawn)}\n  withdrawable ${formatWei(answer.withdrawable)}\n`);
    return 0;
  } catch (err) {
    throw new Error(describeRemoteFailure(err, 'ledger', base));
  }
}
