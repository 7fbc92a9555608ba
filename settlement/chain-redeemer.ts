// Redemption of winning tickets on chain, for the transcoder's crash-safe queue: a batch per transaction
// (redeemWinningTickets), fees under a gas-price ceiling, nonces counted here and re-read from the chain
// when a send fails, every signed transaction recorded in the queue's journal before it is broadcast, a
// batch counted as settled only once `confirmations` blocks hold it, replacement with higher fees when a
// transaction sits unmined, and each ticket's result read from the events of the mined transaction: paid,
// or refused with the chain's reason (a "ticket already redeemed" is looked up: if the redemption that
// came first paid this recipient, the ticket counts as redeemed; a crash between broadcast and receipt
// thus never turns into a refusal or a second payment).

import { CastnetError } from '../protocol/errors.ts';
import type { TransactionReceipt } from 'viem';
import { BrokerClient, type FeeEstimate, type FeeQuote, type Hex } from './broker-client.ts';
import type { QueuedWinner, RedemptionBackend, RedemptionJournal, RedemptionOutcome, SentBatch, SentTransaction } from './settlement.ts';

export interface ChainRedeemerOptions {
  /** Signs with the recipient's key, which pays the gas. */
  client: BrokerClient;
  /** Winners per transaction. */
  maxBatch: number;
  /** Blocks that must hold a redemption before its tickets count as paid (1: the block it is in). */
  confirmations: number;
  /** The most paid per gas (max fee), in wei: above it, redemptions wait. */
  maxGasPriceWei: bigint;
  /** How long a submission waits for its confirmations before leaving the batch to a later drain. */
  receiptWaitMs?: number;
  /** A transaction unmined this long is replaced by one with higher fees (same nonce). */
  replaceAfterMs?: number;
  now?: () => number;
}

const RECEIPT_WAIT_MS = 30_000;
const REPLACE_AFTER_MS = 60_000;
/** A replacement must raise both fees by at least 10% to be accepted by the node; 12.5% as geth's clients do. */
const FEE_BUMP_PERCENT = 125n;

export const ALREADY_REDEEMED_REASON = 'ticket already redeemed';

export class ChainRedeemer implements RedemptionBackend {
  readonly maxBatch: number;
  private readonly client: BrokerClient;
  private readonly confirmations: number;
  private readonly ceiling: bigint;
  private readonly receiptWaitMs: number;
  private readonly replaceAfterMs: number;
  private readonly now: () => number;
  /** The next nonce to use; null: read it from the chain (at start, and after a failed send). */
  private nonce: number | null = null;

  constructor(options: ChainRedeemerOptions) {
    this.client = options.client;
    this.maxBatch = options.maxBatch;
    this.confirmations = Math.max(1, options.confirmations);
    this.ceiling = options.maxGasPriceWei;
    this.receiptWaitMs = options.receiptWaitMs ?? RECEIPT_WAIT_MS;
    this.replaceAfterMs = options.replaceAfterMs ?? REPLACE_AFTER_MS;
    this.now = options.now ?? Date.now;
  }

  /** Fees under the ceiling, or null when the chain asks more than it. */
  private capped(f: FeeEstimate): FeeQuote | null {
    if (f.baseFeePerGas + f.maxPriorityFeePerGas > this.ceiling) return null;
    return { maxFeePerGas: f.maxFeePerGas < this.ceiling ? f.maxFeePerGas : this.ceiling, maxPriorityFeePerGas: f.maxPriorityFeePerGas };
  }

  async submit(winners: readonly QueuedWinner[], journal: RedemptionJournal): Promise<RedemptionOutcome[]> {
    const retry = (error: string) => winners.map((w): RedemptionOutcome => ({ ticketHash: w.ticketHash, outcome: 'retry', error }));
    let signed: { raw: Hex; hash: Hex; gas: bigint; fees: FeeQuote; nonce: number };
    try {
      const estimate = await this.client.fees();
      const fees = this.capped(estimate);
      if (!fees) return retry(`gas price ${estimate.baseFeePerGas + estimate.maxPriorityFeePerGas} wei is above the ceiling of ${this.ceiling} wei (--max-gas-price-wei): redemptions wait`);
      const nonce = this.nonce ?? (await this.client.pendingNonce());
      const tx = await this.client.signTransaction({ to: this.client.address, data: BrokerClient.redeemBatchData(winners), nonce, fees }, 'redeeming winning tickets');
      signed = { ...tx, fees, nonce };
    } catch (err) {
      return retry((err as Error).message);
    }
    const sent: SentTransaction = { hash: signed.hash, raw: signed.raw, nonce: signed.nonce, gas: signed.gas, ...signed.fees, sentAt: this.now() };
    // Recorded before the broadcast: after a crash the queue knows this transaction may be on chain.
    const batch = journal.sent(winners.map((w) => w.ticketHash), sent);
    try {
      await this.client.broadcast(signed.raw, 'redeeming winning tickets');
    } catch (err) {
      // The nonce may be stale (another sender of this key), the key may lack gas money, the node may have
      // refused the fees: the nonce is read again next time and the tickets go back with the node's reason.
      // Had the transaction reached the chain after all, a resend finds them redeemed and counts them paid.
      this.nonce = null;
      if (!/already known/i.test((err as Error).message)) return retry((err as Error).message);
    }
    this.nonce = signed.nonce + 1;
    return this.settle(batch, journal, this.receiptWaitMs);
  }

  async settle(batch: SentBatch, journal: RedemptionJournal, waitMs = 0): Promise<RedemptionOutcome[]> {
    const latest = batch.transactions.at(-1)!;
    try {
      if (waitMs > 0) {
        // Follows a replacement too: the receipt is that of whichever transaction took the nonce.
        const receipt = await this.client.receipt(latest.hash as Hex, this.confirmations, waitMs);
        if (receipt) return await this.outcomes(batch, receipt);
      }
      for (const tx of batch.transactions) {
        const receipt = await this.client.receiptNow(tx.hash as Hex);
        if (!receipt) continue;
        const depth = (await this.client.blockNumber()) - receipt.blockNumber + 1n;
        return depth >= BigInt(this.confirmations) ? await this.outcomes(batch, receipt) : [];
      }
      if (!(await this.anyKnown(batch))) return await this.dropped(batch);
      if (this.now() - latest.sentAt >= this.replaceAfterMs) await this.replace(batch, journal);
      return [];
    } catch (err) {
      // The chain could not be asked: the batch stays in flight and is looked at again next time.
      if (err instanceof CastnetError && err.code === 'UNAVAILABLE') return [];
      throw err;
    }
  }

  private async outcomes(batch: SentBatch, receipt: TransactionReceipt): Promise<RedemptionOutcome[]> {
    const txHash = receipt.transactionHash;
    // A reverted batch (out of gas, say) redeemed nothing: every ticket goes back to the queue.
    if (receipt.status !== 'success') return batch.winners.map((w) => ({ ticketHash: w.ticketHash, outcome: 'retry', error: `batch transaction ${txHash} reverted` }));
    const events = this.client.redemptionEvents(receipt.logs);
    const byHash = new Map(events.map((e) => [e.ticketHash.toLowerCase(), e]));
    const outcomes: RedemptionOutcome[] = [];
    for (const w of batch.winners) {
      const event = byHash.get(w.ticketHash.toLowerCase());
      if (!event) outcomes.push({ ticketHash: w.ticketHash, outcome: 'retry', error: `transaction ${txHash} says nothing of this ticket` });
      else if (event.outcome === 'redeemed') outcomes.push({ ticketHash: w.ticketHash, outcome: 'redeemed', paid: event.paid, txHash });
      else if (event.reason === ALREADY_REDEEMED_REASON) outcomes.push(await this.earlier(w, event.reason));
      else outcomes.push({ ticketHash: w.ticketHash, outcome: 'failed', error: `CHAIN_REFUSED: ${event.reason}` });
    }
    return outcomes;
  }

  /** A ticket the chain already holds as redeemed: paid to its recipient by an earlier transaction? */
  private async earlier(w: QueuedWinner, reason: string): Promise<RedemptionOutcome> {
    const [first] = (await this.client.redemptionLogs({ ticketHash: w.ticketHash })).filter((e) => e.outcome === 'redeemed');
    if (first && first.outcome === 'redeemed' && first.recipient === w.ticket.recipient.toLowerCase()) return { ticketHash: w.ticketHash, outcome: 'redeemed', paid: first.paid, txHash: first.txHash };
    return { ticketHash: w.ticketHash, outcome: 'failed', error: `CHAIN_REFUSED: ${reason}` };
  }

  private async anyKnown(batch: SentBatch): Promise<boolean> {
    for (const tx of batch.transactions) if (await this.client.known(tx.hash as Hex)) return true;
    return false;
  }

  /**
   * No transaction of the batch is mined or known to the node (dropped, or never broadcast before a crash):
   * tickets the chain shows as redeemed are settled from the events, the rest go back to the queue.
   */
  private async dropped(batch: SentBatch): Promise<RedemptionOutcome[]> {
    this.nonce = null;
    const outcomes: RedemptionOutcome[] = [];
    for (const w of batch.winners) {
      if (await this.client.used(w.ticketHash)) outcomes.push(await this.earlier(w, ALREADY_REDEEMED_REASON));
      else outcomes.push({ ticketHash: w.ticketHash, outcome: 'retry', error: 'the redemption transaction was dropped' });
    }
    return outcomes;
  }

  /** The same batch at the same nonce with fees raised by an eighth (capped at the ceiling), recorded, then broadcast. */
  private async replace(batch: SentBatch, journal: RedemptionJournal): Promise<void> {
    const last = batch.transactions.at(-1)!;
    const bump = (v: bigint) => (v * FEE_BUMP_PERCENT) / 100n + 1n;
    const maxFeePerGas = bump(last.maxFeePerGas) < this.ceiling ? bump(last.maxFeePerGas) : this.ceiling;
    const maxPriorityFeePerGas = bump(last.maxPriorityFeePerGas) < maxFeePerGas ? bump(last.maxPriorityFeePerGas) : maxFeePerGas;
    // At the ceiling already: the node would not take a replacement, so the batch waits as it is.
    if (maxFeePerGas <= last.maxFeePerGas) return;
    const fees = { maxFeePerGas, maxPriorityFeePerGas };
    const tx = await this.client.signTransaction({ to: this.client.address, data: BrokerClient.redeemBatchData(batch.winners), nonce: last.nonce, fees, gas: last.gas }, 'replacing a redemption');
    journal.replaced(batch.id, { hash: tx.hash, raw: tx.raw, nonce: last.nonce, gas: last.gas, ...fees, sentAt: this.now() });
    await this.client.broadcast(tx.raw, 'replacing a redemption').catch(() => undefined);
  }
}
