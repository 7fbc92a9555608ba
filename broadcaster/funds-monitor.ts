// The broadcaster's own deposit and reserve as its settlement (ledger or chain) holds them: read at start and
// every minute, shown in /healthz and /metrics, and a warning logged while they are empty (transcoders
// refuse its segments with insufficient_deposit until `castnet deposit` funds them).

import type { Logger } from '../observability/logger.ts';
import type { SenderFunds, Settlement } from '../settlement/settlement.ts';

const POLL_MS = 60_000;

export class FundsMonitor {
  private readonly settlement: Settlement;
  private readonly address: string;
  private readonly logger: Logger;
  private readonly onFunds: (funds: SenderFunds) => void;
  private timer: NodeJS.Timeout | null = null;
  private warned = false;
  /** The last funds read, and when (Unix ms); null before the first answer. */
  last: { funds: SenderFunds; at: number } | null = null;

  constructor(options: { settlement: Settlement; address: string; logger: Logger; onFunds: (funds: SenderFunds) => void }) {
    this.settlement = options.settlement;
    this.address = options.address;
    this.logger = options.logger;
    this.onFunds = options.onFunds;
  }

  /** Reads the funds once; a settlement that cannot be asked is logged, not thrown (it may come later). */
  async check(): Promise<void> {
    try {
      const funds = await this.settlement.senderFunds(this.address);
      this.last = { funds, at: Date.now() };
      this.onFunds(funds);
      const empty = funds.deposit === 0n && funds.reserve === 0n;
      if (empty && !this.warned) this.logger.warn({ address: this.address, settlement: this.settlement.description }, `the broadcaster's deposit and reserve at ${this.settlement.description} are empty: transcoders refuse its segments until castnet deposit funds ${this.address}`);
      this.warned = empty;
    } catch (err) {
      // At the ledger, an orchestrator that does not answer is already reported once by the start checks.
      const level = this.settlement.mode === 'ledger' ? 'debug' : 'warn';
      this.logger[level]({ err, settlement: this.settlement.description }, "the broadcaster's funds could not be read");
    }
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
