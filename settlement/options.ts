// The options every role that touches money shares, spread into its option table: where money settles
// (--settlement ledger|chain), and on chain which JSON-RPC endpoint and which TicketBroker; and the one
// factory that turns them into a Settlement.

import { z } from 'zod';
import { httpUrl, option, orNone } from '../config/option-table.ts';
import { addressPattern } from '../protocol/fields.ts';
import { ChainSettlement, type ChainSettlementOptions } from './chain-settlement.ts';
import { LedgerSettlement } from './ledger-settlement.ts';
import type { Settlement, SettlementMode } from './settlement.ts';

const address = z
  .string({ error: 'takes an address (0x and 40 hex digits)' })
  .regex(addressPattern, { error: 'takes an address (0x and 40 hex digits)' })
  .transform((s) => s.toLowerCase());

export function settlementOptions() {
  return {
    settlement: option({
      flag: 'settlement',
      schema: z.enum(['ledger', 'chain'], { error: 'takes ledger or chain' }),
      default: 'ledger' as SettlementMode,
      description: "where money settles: ledger (the orchestrator's embedded ledger) or chain (the TicketBroker contract at --broker on --chain-rpc)",
    }),
    chainRpc: option({ flag: 'chain-rpc', schema: orNone(httpUrl), default: null as string | null, description: 'JSON-RPC URL of the Ethereum chain the broker lives on (--settlement chain)' }),
    broker: option({ flag: 'broker', schema: orNone(address), default: null as string | null, description: 'address of the TicketBroker contract (--settlement chain)' }),
  };
}

export const settlementRules = [
  (o: { settlement: SettlementMode; chainRpc: string | null; broker: string | null }) =>
    o.settlement === 'chain' && (o.chainRpc === null || o.broker === null) ? '--settlement chain needs --chain-rpc <url> and --broker <address>' : null,
  (o: { settlement: SettlementMode; chainRpc: string | null; broker: string | null }) =>
    o.settlement === 'ledger' && (o.chainRpc !== null || o.broker !== null) ? '--chain-rpc and --broker name a chain: give --settlement chain too' : null,
];

export interface SettlementChoice {
  settlement: SettlementMode;
  chainRpc: string | null;
  broker: string | null;
}

/** The settlement the options name; the ledger is the orchestrator's, whose URL is read at each call. */
export function createSettlement(choice: SettlementChoice, orchestratorUrl: () => string | null, chain: Omit<ChainSettlementOptions, 'rpcUrl' | 'broker'> = {}): Settlement {
  if (choice.settlement === 'chain') return new ChainSettlement({ rpcUrl: choice.chainRpc!, broker: choice.broker!, ...chain });
  return new LedgerSettlement(orchestratorUrl);
}
