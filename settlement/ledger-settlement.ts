// Settlement at the orchestrator's embedded ledger (orchestrator/ledger.ts), over its HTTP API through the
// one orchestrator client: funds and earnings lookups, deposits, signed withdrawals, and redemption of
// winners one request each. The orchestrator's URL is read at each call: a node may learn it from gossip.

import { CastnetError } from '../protocol/errors.ts';
import type { Identity } from '../protocol/identity.ts';
import { OrchestratorClient, type OrchestratorClientComponents } from '../protocol/orchestrator-client.ts';
import { redemptionRequest, type AccountJson } from '../protocol/redemption.ts';
import { withdrawalRequest } from '../protocol/withdrawal.ts';
import type { QueuedWinner, RecipientEarnings, RedemptionBackend, RedemptionOutcome, SenderFunds, Settlement } from './settlement.ts';

/** The ledger's decisions: retrying cannot change them. */
const FINAL_CODES = new Set(['TICKET_INVALID', 'ALREADY_REDEEMED', 'INSUFFICIENT_FUNDS', 'BAD_REQUEST']);
/** Winners redeemed per drain of the queue (one request each). */
const LEDGER_BATCH = 50;

const senderFunds = (a: AccountJson): SenderFunds => ({ deposit: BigInt(a.deposit), reserve: BigInt(a.reserve), reserveClaimed: BigInt(a.reserveClaimed), spent: BigInt(a.spent) });
const earnings = (a: AccountJson): RecipientEarnings => ({ earned: BigInt(a.earned), withdrawn: BigInt(a.withdrawn) });

export class LedgerSettlement implements Settlement {
  readonly mode = 'ledger';
  private readonly orchestratorUrl: () => string | null;
  private readonly components: OrchestratorClientComponents;
  private readonly now: () => number;

  constructor(orchestratorUrl: string | (() => string | null), components: OrchestratorClientComponents & { now?: () => number } = {}) {
    this.orchestratorUrl = typeof orchestratorUrl === 'string' ? () => orchestratorUrl : orchestratorUrl;
    this.components = components;
    this.now = components.now ?? Date.now;
  }

  get description(): string {
    return `the ledger at ${this.orchestratorUrl() ?? '(an orchestrator not known yet)'}`;
  }

  /** A client of the orchestrator; writes are signed with `identity` when one is given. */
  private client(identity?: Identity): OrchestratorClient {
    const base = this.orchestratorUrl();
    if (base === null) throw new CastnetError('UNAVAILABLE', 'no orchestrator known yet: its ledger cannot be asked');
    return new OrchestratorClient(base, identity ? { ...this.components, identity } : this.components);
  }

  async payableTo(sender: string, recipient: string): Promise<bigint> {
    const account = await this.client().account(sender, recipient);
    // An older ledger answers without `payable`: it had no per-recipient reserve, so all of it counts.
    return account.payable !== undefined ? BigInt(account.payable) : BigInt(account.deposit) + BigInt(account.reserve);
  }

  async senderFunds(address: string): Promise<SenderFunds> {
    return senderFunds(await this.client().account(address));
  }

  async earnings(address: string): Promise<RecipientEarnings> {
    return earnings(await this.client().account(address));
  }

  /** `payer` is the orchestrator's operator key: the ledger takes deposits from its operator alone. */
  async fund(payer: Identity, account: string, deposit: bigint, reserve: bigint): Promise<SenderFunds> {
    return senderFunds(await this.client(payer).deposit(account, deposit, reserve));
  }

  async withdrawEarnings(identity: Identity, to: string, amount: bigint): Promise<RecipientEarnings> {
    const answer = await this.client(identity).withdraw(withdrawalRequest({ address: identity.address, amount, to, timestamp: this.now() }, identity.privateKey));
    const withdrawn = BigInt(answer.withdrawn);
    return { earned: withdrawn + BigInt(answer.withdrawable), withdrawn };
  }

  redemptions(identity: Identity): RedemptionBackend {
    // Signed by the recipient's key like its other writes (the ledger checks the ticket itself as well).
    return perTicketBackend(async (w) => {
      const answer = await this.client(identity).redeem(redemptionRequest(w.ticket, w.signature, w.recipientRand));
      return answer.paid;
    });
  }
}

/**
 * A backend that redeems winners one at a time with `redeem` (answering the amount paid, or throwing): a
 * CastnetError with a final code is a refusal, anything else is retried. Nothing is ever left in flight.
 */
export function perTicketBackend(redeem: (winner: QueuedWinner) => Promise<bigint>, maxBatch = LEDGER_BATCH): RedemptionBackend {
  return {
    maxBatch,
    async submit(winners) {
      const outcomes: RedemptionOutcome[] = [];
      for (const w of winners) {
        try {
          outcomes.push({ ticketHash: w.ticketHash, outcome: 'redeemed', paid: await redeem(w) });
        } catch (err) {
          const code = err instanceof CastnetError ? err.code : null;
          const message = (err as Error).message;
          const context = err instanceof CastnetError ? err.context : {};
          // Redeemed by an earlier attempt whose answer was lost (a crash after the ledger's commit): paid.
          if (code === 'ALREADY_REDEEMED' && context['reason'] === 'paid_earlier' && typeof context['paid'] === 'string') {
            outcomes.push({ ticketHash: w.ticketHash, outcome: 'redeemed', paid: BigInt(context['paid']) });
            continue;
          }
          if (code !== null && FINAL_CODES.has(code)) outcomes.push({ ticketHash: w.ticketHash, outcome: 'failed', error: `${code}: ${message}` });
          else outcomes.push({ ticketHash: w.ticketHash, outcome: 'retry', error: message });
        }
      }
      return outcomes;
    },
    async settle(batch) {
      // Never sends a batch it does not settle at once; a stray one goes back to the queue.
      return batch.winners.map((w) => ({ ticketHash: w.ticketHash, outcome: 'retry' as const, error: 'not sent' }));
    },
  };
}
