// `castnet wallet`, `castnet deposit`, `castnet withdraw` and `castnet unlock`: the payment keys found in this
// data directory (never created here: a wallet that invents keys shows addresses nothing will ever pay),
// their balances where money settles (the orchestrator's ledger, or the TicketBroker on chain with
// --settlement chain), funding the broadcaster's tickets, and moving a transcoder's or relay's earnings out,
// signed by its own key (a signed withdrawal at the ledger, protocol/withdrawal.ts; a transaction on chain).
// On chain a broadcaster also takes its deposit back: unlock, wait the unlock period, withdraw.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hexToBytes } from '@noble/hashes/utils.js';
import { identityFromPrivateKey, type Identity } from '../protocol/identity.ts';
import { ChainSettlement } from '../settlement/chain-settlement.ts';
import type { Settlement } from '../settlement/settlement.ts';
import { orchestratorFrom, settlementFrom } from './chain-target.ts';
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

export const walletUsage = `Usage: castnet wallet [--data-dir ./.castnet] [settlement]
       castnet deposit <wei> [--reserve <wei>] [--to <address>] [--data-dir ./.castnet] [--operator-key <file>] [settlement]
       castnet withdraw <wei>|--all --role transcoder|relay [--to <address>] [--data-dir ./.castnet] [settlement]
       castnet unlock [--cancel] [--data-dir ./.castnet] --settlement chain …
       castnet withdraw --role broadcaster [--data-dir ./.castnet] --settlement chain …

settlement: --orchestrator URL (the ledger, the default), or --settlement chain --chain-rpc <url> --broker <address>
            (castnet dev --settlement chain writes its chain to <data-dir>/dev-chain.json: --settlement chain suffices)

wallet    the payment keys in <data-dir>/keys/ (broadcaster, transcoder, relay) and their balances
deposit   funds a broadcaster's tickets (--to, else the broadcaster key in --data-dir). At the ledger it is
          signed by the orchestrator's operator key (<data-dir>/keys/operator.key, or --operator-key): only
          the operator mints. On chain it is a transaction from the broadcaster's key, which pays the ETH
withdraw  moves earnings out, signed by the role's key; --to defaults to its own address. On chain,
          --role broadcaster takes the deposit and reserve back once the unlock period is over
unlock    on chain: starts the broadcaster's unlock period (tickets stay redeemable during it); --cancel ends it
`;

type Out = (s: string) => void;
const stdout: Out = (s) => process.stdout.write(s);

/** Which service at which address a failure is named after. */
function where(settlement: Settlement, flags: Map<string, string | boolean>): [string, string] {
  return settlement instanceof ChainSettlement ? ['chain', settlement.reader.rpcUrl] : ['ledger', orchestratorFrom(flags)];
}

function failure(err: unknown, settlement: Settlement, flags: Map<string, string | boolean>): Error {
  return new Error(describeRemoteFailure(err, ...where(settlement, flags)));
}

export async function runWallet(argv: string[], out: Out = stdout): Promise<number> {
  const { flags } = parseFlags(argv);
  if (flags.has('help')) {
    out(walletUsage);
    return 0;
  }
  const dataDir = dataDirFrom(flags);
  const settlement = settlementFrom(flags, dataDir);
  const chain = settlement instanceof ChainSettlement ? settlement : null;
  const found = PAYMENT_ROLES.map((role) => ({ role, identity: findIdentity(dataDir, role) })).filter((k): k is { role: PaymentRole; identity: Identity } => k.identity !== null);
  // An orchestrator's data directory holds the operator key: it signs, and holds no balance of its own.
  const operator = readKeyFile(join(dataDir, 'keys', 'operator.key'));
  if (found.length === 0 && !operator) {
    out(`no payment keys in ${join(dataDir, 'keys')}: a broadcaster, transcoder or relay creates its key on first start (--data-dir ${dataDir})\n`);
    return 1;
  }
  if (chain) out(`on chain: ${settlement.description}\n`);
  if (operator) out(`${'operator'.padEnd(12)} ${operator.address}\n  signs ${chain ? 'admission' : 'deposits and admission'} at the orchestrator; holds no balance\n`);
  let failed = false;
  for (const { role, identity } of found) {
    out(`${role.padEnd(12)} ${identity.address}\n`);
    try {
      const rows: Array<[string, bigint | string]> = [];
      if (role === 'broadcaster') {
        const f = await settlement.senderFunds(identity.address);
        rows.push(['deposit', f.deposit], ['reserve', f.reserve]);
        if (f.spent !== undefined) rows.push(['spent', f.spent]);
        if (f.reserveClaimed > 0n) rows.push(['reserve paid', f.reserveClaimed]);
      } else {
        const e = await settlement.earnings(identity.address);
        rows.push(['earned', e.earned], ['withdrawn', e.withdrawn], ['withdrawable', e.earned - e.withdrawn]);
      }
      if (chain) rows.push(['gas (ETH)', await chain.reader.balance(identity.address)]);
      for (const [name, wei] of rows) out(`  ${name.padEnd(13)}${formatWei(wei)}\n`);
      if (chain && role === 'broadcaster') {
        const s = await chain.reader.sender(identity.address);
        if (s.withdrawBlock > 0n) {
          const now = await chain.reader.blockNumber();
          out(`  unlocking    ${now >= s.withdrawBlock ? 'unlock period over: castnet withdraw --role broadcaster takes it back' : `withdrawable from block ${s.withdrawBlock} (now ${now}); tickets are still redeemed until then`}\n`);
        }
      }
    } catch (err) {
      failed = true;
      out(`  ${describeRemoteFailure(err, ...where(settlement, flags))}\n`);
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
  const broadcaster = findIdentity(dataDir, 'broadcaster');
  const settlement = settlementFrom(flags, dataDir);
  const onChain = settlement instanceof ChainSettlement;
  let to: string;
  if (typeof toFlag === 'string') to = toFlag.toLowerCase();
  else {
    if (!broadcaster) throw new Error(`no broadcaster key in ${join(dataDir, 'keys')}: start the broadcaster once with --data-dir ${dataDir} (it creates its key), or name the account with --to`);
    to = broadcaster.address;
  }
  // At the ledger the operator mints; on chain the broadcaster's key pays the ETH.
  let payer: Identity;
  if (onChain) {
    if (!broadcaster) throw new Error(`no broadcaster key in ${join(dataDir, 'keys')}: on chain the deposit is paid from it`);
    payer = broadcaster;
  } else payer = operatorIdentity(flags, dataDir);
  try {
    const f = await settlement.fund(payer, to, BigInt(amount), BigInt(reserve));
    out(`funded ${to}${onChain ? ` on chain (${settlement.description})` : ''}\n  deposit      ${formatWei(f.deposit)}\n  reserve      ${formatWei(f.reserve)}\n`);
    return 0;
  } catch (err) {
    throw failure(err, settlement, flags);
  }
}

export async function runWithdraw(argv: string[], out: Out = stdout): Promise<number> {
  const { flags, positional } = parseFlags(argv);
  if (flags.has('help')) {
    out(walletUsage);
    return 0;
  }
  const dataDir = dataDirFrom(flags);
  const role = flags.get('role');
  if (role !== 'transcoder' && role !== 'relay' && role !== 'broadcaster') throw new Error('castnet withdraw needs --role transcoder or --role relay (earnings), or --role broadcaster (a deposit, on chain)');
  const identity = findIdentity(dataDir, role);
  if (!identity) throw new Error(`no ${role} key in ${join(dataDir, 'keys')}: withdraw from the data directory the ${role} runs with (--data-dir)`);
  const settlement = settlementFrom(flags, dataDir);
  if (role === 'broadcaster') {
    if (!(settlement instanceof ChainSettlement)) throw new Error("a broadcaster's deposit leaves the ledger only through its operator; on chain: castnet unlock, then castnet withdraw --role broadcaster --settlement chain");
    try {
      const before = await settlement.senderFunds(identity.address);
      await settlement.client(identity).withdraw();
      out(`withdrew the deposit ${formatWei(before.deposit)} and reserve ${formatWei(before.reserve)} to ${identity.address}\n`);
      return 0;
    } catch (err) {
      throw failure(err, settlement, flags);
    }
  }
  const all = flags.get('all') === true;
  const amountText = positional[0];
  if (all === (amountText !== undefined)) throw new Error('castnet withdraw takes an amount in wei, or --all (not both)');
  if (amountText !== undefined && !/^\d{1,78}$/.test(amountText)) throw new Error(`"${amountText}" is not an amount in wei`);
  const to = String(flags.get('to') ?? identity.address);
  if (!/^0x[0-9a-fA-F]{40}$/.test(to)) throw new Error(`--to takes an address (0x and 40 hex digits), not "${to}"`);
  try {
    let amount = amountText === undefined ? 0n : BigInt(amountText);
    if (all) {
      const e = await settlement.earnings(identity.address);
      amount = e.earned - e.withdrawn;
      if (amount === 0n) {
        out(`nothing to withdraw: ${identity.address} has earned ${formatWei(e.earned)} and withdrawn ${formatWei(e.withdrawn)}\n`);
        return 0;
      }
    }
    const after = await settlement.withdrawEarnings(identity, to, amount);
    out(`withdrew ${formatWei(amount)} from ${identity.address} to ${to.toLowerCase()}\n  withdrawn    ${formatWei(after.withdrawn)}\n  withdrawable ${formatWei(after.earned - after.withdrawn)}\n`);
    return 0;
  } catch (err) {
    throw failure(err, settlement, flags);
  }
}

export async function runUnlock(argv: string[], out: Out = stdout): Promise<number> {
  const { flags } = parseFlags(argv);
  if (flags.has('help')) {
    out(walletUsage);
    return 0;
  }
  const dataDir = dataDirFrom(flags);
  const identity = findIdentity(dataDir, 'broadcaster');
  if (!identity) throw new Error(`no broadcaster key in ${join(dataDir, 'keys')}`);
  const settlement = settlementFrom(flags, dataDir);
  if (!(settlement instanceof ChainSettlement)) throw new Error('castnet unlock is for a deposit on chain: give --settlement chain (with --chain-rpc and --broker)');
  const client = settlement.client(identity);
  try {
    if (flags.get('cancel') === true) {
      await client.cancelUnlock();
      out(`unlock cancelled: ${identity.address}'s deposit pays tickets again\n`);
      return 0;
    }
    await client.unlock();
    const s = await client.sender(identity.address);
    out(`unlocking ${identity.address}: withdrawable from block ${s.withdrawBlock} (castnet withdraw --role broadcaster); tickets are redeemed until then, and transcoders stop taking new ones now\n`);
    return 0;
  } catch (err) {
    throw failure(err, settlement, flags);
  }
}
