// Settlement on an Ethereum chain through the TicketBroker contract (contracts/TicketBroker.sol): funds and
// earnings read from the contract, deposits and withdrawals as transactions from the account's own key,
// and winners redeemed in batches by the ChainRedeemer. Nothing passes through an orchestrator.

import type { Identity } from '../protocol/identity.ts';
import { BrokerClient } from './broker-client.ts';
import { ChainRedeemer } from './chain-redeemer.ts';
import type { RecipientEarnings, RedemptionBackend, SenderFunds, Settlement } from './settlement.ts';

export interface ChainSettlementOptions {
  rpcUrl: string;
  broker: string;
  /** Redemption: winners per transaction, confirmations before a ticket counts as paid, the gas-price ceiling. */
  redeemBatchSize?: number;
  confirmations?: number;
  maxGasPriceWei?: bigint;
  receiptWaitMs?: number;
  replaceAfterMs?: number;
  pollingIntervalMs?: number;
}

export const CHAIN_DEFAULTS = { redeemBatchSize: 20, confirmations: 2, maxGasPriceWei: 100_000_000_000n } as const;

export class ChainSettlement implements Settlement {
  readonly mode = 'chain';
  readonly reader: BrokerClient;
  private readonly options: ChainSettlementOptions;

  constructor(options: ChainSettlementOptions) {
    this.options = options;
    this.reader = this.client(null);
  }

  get description(): string {
    return `TicketBroker ${this.reader.address} on the chain at ${this.options.rpcUrl}`;
  }

  /** A client of the broker signing with `identity` (read-only with null). */
  client(identity: Identity | null): BrokerClient {
    return new BrokerClient({ rpcUrl: this.options.rpcUrl, broker: this.options.broker, identity, ...(this.options.pollingIntervalMs ? { pollingIntervalMs: this.options.pollingIntervalMs } : {}) });
  }

  /**
   * What one winner from `sender` pays `recipient`; nothing while the sender's unlock is in progress: its
   * deposit may leave at the end of the period, before a ticket taken now is redeemed and confirmed.
   */
  async payableTo(sender: string, recipient: string): Promise<bigint> {
    const [payable, state] = await Promise.all([this.reader.payableTo(sender, recipient), this.reader.sender(sender)]);
    return state.withdrawBlock === 0n ? payable : 0n;
  }

  async senderFunds(address: string): Promise<SenderFunds> {
    return this.reader.sender(address);
  }

  earnings(address: string): Promise<RecipientEarnings> {
    return this.reader.recipient(address);
  }

  /** A transaction from `payer`'s key: its own account (which cancels its unlock), or another's. */
  async fund(payer: Identity, account: string, deposit: bigint, reserve: bigint): Promise<SenderFunds> {
    const client = this.client(payer);
    if (account.toLowerCase() === payer.address) await client.fund(deposit, reserve);
    else await client.fundFor(account, deposit, reserve);
    return this.senderFunds(account);
  }

  async withdrawEarnings(identity: Identity, to: string, amount: bigint): Promise<RecipientEarnings> {
    await this.client(identity).withdrawEarnings(to, amount);
    return this.earnings(identity.address);
  }

  redemptions(identity: Identity): RedemptionBackend {
    return new ChainRedeemer({
      client: this.client(identity),
      maxBatch: this.options.redeemBatchSize ?? CHAIN_DEFAULTS.redeemBatchSize,
      confirmations: this.options.confirmations ?? CHAIN_DEFAULTS.confirmations,
      maxGasPriceWei: this.options.maxGasPriceWei ?? CHAIN_DEFAULTS.maxGasPriceWei,
      ...(this.options.receiptWaitMs ? { receiptWaitMs: this.options.receiptWaitMs } : {}),
      ...(this.options.replaceAfterMs ? { replaceAfterMs: this.options.replaceAfterMs } : {}),
    });
  }
}
