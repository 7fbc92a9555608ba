// Balances as the chain's events tell them: follows every TicketBroker event from a start block on (in
// bounded block ranges, every pollMs) and keeps, per address, the deposit and reserve it holds as a sender,
// what it paid, and what it earned as a recipient. The orchestrator reads these when the network settles
// on chain (earnings in `/api/nodes`, whether a reporting broadcaster is funded), synchronously and without
// a call per request; it never decides them.

import type { Logger } from '../observability/logger.ts';
import type { BrokerClient } from './broker-client.ts';

const POLL_MS = 2_000;
/** Blocks asked for in one getLogs: public endpoints refuse wide ranges. */
const MAX_RANGE_BLOCKS = 5_000n;

export interface EventTotals {
  /** Deposit and reserve the address holds as a sender, in wei. */
  deposit: bigint;
  reserve: bigint;
  /** Paid to the address as a recipient, in wei. */
  earned: bigint;
  /** Paid by the address as a sender, in wei. */
  spent: bigint;
  /** Tickets redeemed to the address. */
  tickets: number;
}

const empty = (): EventTotals => ({ deposit: 0n, reserve: 0n, earned: 0n, spent: 0n, tickets: 0 });

export class BrokerEvents {
  private readonly client: BrokerClient;
  private readonly pollMs: number;
  private readonly logger: Logger | null;
  private next: bigint;
  private readonly totals = new Map<string, EventTotals>();
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

  private entry(address: unknown): EventTotals {
    const key = String(address).toLowerCase();
    let e = this.totals.get(key);
    if (!e) {
      e = empty();
      this.totals.set(key, e);
    }
    return e;
  }

  /** Reads every new event up to the latest block. */
  async sync(): Promise<void> {
    const latest = await this.client.blockNumber();
    while (this.next <= latest) {
      const to = this.next + MAX_RANGE_BLOCKS - 1n < latest ? this.next + MAX_RANGE_BLOCKS - 1n : latest;
      for (const { eventName, args } of await this.client.events(this.next, to)) {
        const amount = (name: string) => args[name] as bigint;
        if (eventName === 'DepositFunded') this.entry(args['sender']).deposit += amount('amount');
        else if (eventName === 'ReserveFunded') this.entry(args['sender']).reserve += amount('amount');
        else if (eventName === 'WinningTicketRedeemed') {
          const sender = this.entry(args['sender']);
          sender.deposit -= amount('paid') - amount('fromReserve');
          sender.reserve -= amount('fromReserve');
          sender.spent += amount('paid');
          const recipient = this.entry(args['recipient']);
          recipient.earned += amount('paid');
          recipient.tickets += 1;
        } else if (eventName === 'Withdrawal') {
          const sender = this.entry(args['sender']);
          sender.deposit = 0n;
          sender.reserve = 0n;
        }
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
            if (!this.failing) this.logger?.warn({ err }, 'broker events could not be read: balances and earnings are as of the last block read');
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

  totalsOf(address: string): EventTotals {
    return this.totals.get(address.toLowerCase()) ?? empty();
  }
}
