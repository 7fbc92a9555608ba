// Where a node's money settles, behind one interface: the embedded ledger at the orchestrator
// (ledger-settlement.ts, the default for `castnet dev` and tests) or the TicketBroker contract on an
// Ethereum chain (chain-settlement.ts). Transcoders read a sender's funds and redeem winners through it,
// the orchestrator reads earnings, `castnet wallet`/`deposit`/`withdraw` read balances and move money.

import type { Identity } from '../protocol/identity.ts';
import type { Ticket } from '../protocol/ticket.ts';

export type SettlementMode = 'ledger' | 'chain';

export interface SenderFunds {
  deposit: bigint;
  reserve: bigint;
  /** Reserve paid out to recipients so far (reserve + reserveClaimed: what was funded). */
  reserveClaimed: bigint;
  /** What winners have taken from the deposit and reserve (ledger only; on chain, the events say). */
  spent?: bigint;
  /** On chain: 0 while locked, else the block from which the sender may withdraw. */
  withdrawBlock?: bigint;
}

export interface RecipientEarnings {
  earned: bigint;
  withdrawn: bigint;
}

/** A winning ticket waiting to be redeemed. */
export interface QueuedWinner {
  ticketHash: string;
  ticket: Ticket;
  signature: Uint8Array;
  recipientRand: Uint8Array;
}

export type RedemptionOutcome =
  | { ticketHash: string; outcome: 'redeemed'; paid: bigint; txHash?: string }
  /** Refused for good, with the settlement's reason (the chain's revert reason): never retried blindly. */
  | { ticketHash: string; outcome: 'failed'; error: string }
  /** Not settled for a passing reason (unreachable, gas above the ceiling): tried again after a backoff. */
  | { ticketHash: string; outcome: 'retry'; error: string };

/** A signed transaction carrying a batch of winners, recorded before it is broadcast. */
export interface SentTransaction {
  hash: string;
  raw: string;
  nonce: number;
  /** Gas limit: a replacement keeps it (an estimate made while the first is pending would see its tickets spent). */
  gas: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  /** Unix ms. */
  sentAt: number;
}

export interface SentBatch {
  id: number;
  winners: QueuedWinner[];
  /** Every transaction sent for the batch, the first first: replacements share one nonce, so one at most lands. */
  transactions: SentTransaction[];
}

/** The redemption queue's record of what is in flight, written before each broadcast (redemption-queue.ts). */
export interface RedemptionJournal {
  /** Marks the winners as sent in a new batch with its first transaction. */
  sent(ticketHashes: readonly string[], tx: SentTransaction): SentBatch;
  /** Records a replacement (same nonce, higher fees) for a batch. */
  replaced(batchId: number, tx: SentTransaction): void;
}

/** How winners are redeemed: a batch at a time, settled at once (ledger) or over blocks (chain). */
export interface RedemptionBackend {
  /** The most winners in one submission. */
  readonly maxBatch: number;
  /** Redeems `winners`: an outcome for each ticket settled; one left out stays sent (see settle). */
  submit(winners: readonly QueuedWinner[], journal: RedemptionJournal): Promise<RedemptionOutcome[]>;
  /** What became of a batch sent earlier (also before a restart): outcomes once it is settled, [] while it is not. */
  settle(batch: SentBatch, journal: RedemptionJournal): Promise<RedemptionOutcome[]>;
}

export interface Settlement {
  readonly mode: SettlementMode;
  /** Where it settles, for banners and errors: "the ledger at http://…", "TicketBroker 0x… on chain 31337 (http://…)". */
  readonly description: string;
  /** The most one winning ticket from `sender` pays `recipient` now; throws UNAVAILABLE when it cannot be learned. */
  payableTo(sender: string, recipient: string): Promise<bigint>;
  senderFunds(address: string): Promise<SenderFunds>;
  earnings(address: string): Promise<RecipientEarnings>;
  /**
   * Adds to `account`'s deposit and reserve, paid or authorized by `payer`: at the ledger the operator's key
   * signs the deposit (only the operator mints); on chain `payer`'s key sends the ETH.
   */
  fund(payer: Identity, account: string, deposit: bigint, reserve: bigint): Promise<SenderFunds>;
  /** Moves `amount` of `identity`'s earnings to `to`. */
  withdrawEarnings(identity: Identity, to: string, amount: bigint): Promise<RecipientEarnings>;
  /** The backend a recipient redeems its winners through, signing with `identity` where that is needed. */
  redemptions(identity: Identity): RedemptionBackend;
}
