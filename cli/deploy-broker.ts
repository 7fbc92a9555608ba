// `castnet deploy-broker`: deploys the committed TicketBroker (settlement/ticket-broker-artifact.ts) to a chain
// from a key file, and prints the address every money role then takes as --broker, and the block to read
// its events from (--chain-from-block). `castnet dev --settlement chain` does the same on its own anvil.

import { readFileSync } from 'node:fs';
import { hexToBytes } from '@noble/hashes/utils.js';
import { identityFromPrivateKey } from '../protocol/identity.ts';
import { BrokerClient } from '../settlement/broker-client.ts';
import { DEFAULT_RESERVE_RECIPIENTS } from '../settlement/reserve-rule.ts';
import { parseFlags } from './options.ts';
import { describeRemoteFailure } from './remote-failure.ts';

/** A day of blocks at Ethereum's 12 s: time for recipients to redeem what they hold before a sender leaves. */
const DEFAULT_UNLOCK_BLOCKS = 7_200n;

export const deployBrokerUsage = `Usage: castnet deploy-broker --chain-rpc <url> --key-file <file> [--unlock-period ${DEFAULT_UNLOCK_BLOCKS}] [--ticket-validity-blocks 256] [--reserve-recipients ${DEFAULT_RESERVE_RECIPIENTS}]

Deploys the TicketBroker contract; the key file holds the deployer's private key (64 hex digits), which pays the gas.
  --unlock-period           blocks between castnet unlock and the withdrawal of a deposit
  --ticket-validity-blocks  blocks a ticket stays redeemable after its creation block (1 to 256)
  --reserve-recipients      allocations each reserve is split into, one per recipient
`;

export async function runDeployBroker(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const { flags } = parseFlags(argv);
  if (flags.has('help')) {
    out(deployBrokerUsage);
    return 0;
  }
  const rpc = flags.get('chain-rpc');
  const keyFile = flags.get('key-file');
  if (typeof rpc !== 'string' || !/^https?:\/\//.test(rpc) || typeof keyFile !== 'string') throw new Error(`castnet deploy-broker needs --chain-rpc <url> and --key-file <file>\n\n${deployBrokerUsage}`);
  const number = (flag: string, fallback: bigint): bigint => {
    const v = flags.get(flag);
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || !/^\d{1,18}$/.test(v)) throw new Error(`--${flag} takes a whole number`);
    return BigInt(v);
  };
  const parameters = {
    unlockPeriod: number('unlock-period', DEFAULT_UNLOCK_BLOCKS),
    ticketValidityBlocks: number('ticket-validity-blocks', 256n),
    reserveRecipients: number('reserve-recipients', DEFAULT_RESERVE_RECIPIENTS),
  };
  const hex = readFileSync(keyFile, 'utf8').trim().replace(/^0x/, '');
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error(`${keyFile} does not hold a private key (64 hex digits)`);
  const deployer = identityFromPrivateKey(hexToBytes(hex));
  try {
    const broker = await BrokerClient.deploy(rpc, deployer, parameters);
    const block = await new BrokerClient({ rpcUrl: rpc, broker }).blockNumber();
    out(`TicketBroker deployed at ${broker} (block ${block}) by ${deployer.address}\n  unlock period ${parameters.unlockPeriod} blocks, tickets valid ${parameters.ticketValidityBlocks} blocks, reserve split in ${parameters.reserveRecipients}\n  give every money role: --settlement chain --chain-rpc ${rpc} --broker ${broker} (the orchestrator also --chain-from-block ${block})\n`);
    return 0;
  } catch (err) {
    throw new Error(describeRemoteFailure(err, 'chain', rpc));
  }
}
