// The reserve rule, the same in the embedded ledger (orchestrator/ledger.ts) and on chain
// (contracts/TicketBroker.sol, _redeem and _claimableReserve), in the same integer arithmetic:
// a winning ticket is paid from the sender's deposit first; what the deposit cannot cover comes from the
// reserve, which is split into `reserveRecipients` equal allocations, one per recipient (as Livepeer
// splits a reserve among its active transcoders). A recipient may take at most
// (reserve + reserveClaimed) / reserveRecipients from it in total, where reserve + reserveClaimed is
// everything funded into the reserve since the sender last withdrew. So no single recipient can claim
// all of a reserve, and the others keep theirs. A ticket that would pay nothing is refused and stays
// unredeemed; a ticket that pays part of its face value is spent.

/** Allocations a reserve is split into, unless the ledger or the deployed broker says otherwise. */
export const DEFAULT_RESERVE_RECIPIENTS = 10n;

export interface ReserveState {
  /** Reserve left. */
  reserve: bigint;
  /** Reserve paid out to recipients since the sender last withdrew. */
  reserveClaimed: bigint;
}

/** What one recipient, having taken `claimedByRecipient` already, may still take from the reserve. */
export function claimableReserve(state: ReserveState, claimedByRecipient: bigint, reserveRecipients: bigint): bigint {
  if (state.reserve === 0n) return 0n;
  const allocation = (state.reserve + state.reserveClaimed) / reserveRecipients;
  if (claimedByRecipient >= allocation) return 0n;
  const left = allocation - claimedByRecipient;
  return left < state.reserve ? left : state.reserve;
}

export interface Payout {
  fromDeposit: bigint;
  fromReserve: bigint;
  paid: bigint;
}

/** How a winning ticket of `faceValue` is paid from a deposit and the recipient's claimable reserve. */
export function payout(faceValue: bigint, deposit: bigint, claimable: bigint): Payout {
  const fromDeposit = faceValue < deposit ? faceValue : deposit;
  const rest = faceValue - fromDeposit;
  const fromReserve = rest < claimable ? rest : claimable;
  return { fromDeposit, fromReserve, paid: fromDeposit + fromReserve };
}
