// Earnings as the chain records them: follows the TicketBroker's WinningTicketRedeemed events from a start
// block on (in bounded block ranges, every pollMs) and sums what each recipient was paid and each sender
// paid. The orchestrator shows these beside its nodes in `/api/nodes` when the network settles on chain;
// it never decides them.

import type { Logger } from '../observability/logger.ts';
import type { BrokerClient } from './broker-client.ts';

const POLL_MS = 2_000;
/** Blocks asked for in one getLogs: public endpoints refuse wide ranges. */
const MAX_RANGE_BLOCKS = 5_000n;

export interface EarningsTotals {
  /** Paid to the address as a recipient, in wei. */
  earned: bigint;
  /** Paid by the address as a sender, in wei. */
  spent: bigint;
  /** Tickets redeemed to the address. */
  tickets: number;
}

export class BrokerEarnings {
  private readonly client: BrokerClient;
  private readonly pollMs: number;
  private readonly logger: Logger | null;
  private next: bigint;
  private readonly totals = new Map<string, EarningsTotals>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private failing = false;
  /** The last block whose events are counted (−1: none yet). */
  syncedTo = -1n;

  constructor(client: BrokerClient, options: { fromBlock?: bigint; pollMs?: number; logger?: Logger } = {}) {
    this.client = client;
    this.next = options.fromBlock ?? 0n;
    this.pollMs = options.pollMs ?? POLL_MS;
    this.logger = options.logger ?? null;
  }

  private entry(address: string): EarningsTotals {
    let e = this.totals.get(address);
    if (!e) {
      e = { earned: 0n, spent: 0n, tickets: 0 };
      this.totals.set(address, e);
    }
    return e;
  }

  /** Reads every new event up to the latest block. */
  async sync(): Promise<void> {
    const latest = await this.client.blockNumber();
    while (this.next <= latest) {
      const to = this.next + MAX_RANGE_BLOCKS - 1n < latest ? this.next + MAX_RANGE_BLOCKS - 1n : latest;
      const events = await this.client.redemptionLogs({ fromBlock: this.next, toBlock: to });
      for (const e of events) {
        if (e.outcome !== 'redeemed') continue;
        const recipient = this.entry(e.recipient);
        recipient.earned += e.paid;
        recipient.tickets += 1;
        this.entry(e.sender).spent += e.paid;
      }
      this.syncedTo = to;
      this.next = to + 1n;
    }
  }

  start(): void {
    const tick = () => {
      this.running = this.sync()
        .then(
          () => {
            if (this.failing) this.logger?.info({ block: this.syncedTo.toString() }, 'broker events readable again');
            this.failing = false;
          },
          (err: unknown) => {
            if (!this.failing) this.logger?.warn({ err }, 'broker events could not be read: earnings shown are as of the last block read');
            this.failing = true;
          },
        )
        .finally(() => {
          this.running = null;
          if (this.timer) {
            this.timer = setTimeout(tick, this.pollMs);
            this.timer.unref();
          }
        });
    };
    this.timer = setTimeout(tick, 0);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  totalsOf(address: string): EarningsTotals {
    return this.totals.get(address.toLowerCase()) ?? { earned: 0n, spent: 0n, tickets: 0 };
  }
}
