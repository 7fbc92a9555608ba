// The chain's latest block as a recipient sees it, polled in the background: new ticket parameters are
// bound to it (auxData = its number and hash, which the broker checks), tickets whose block is too old are
// refused before any work, and the time blocks take sets how long parameters are offered for.
// Read synchronously on the segment path; the poll runs beside it.

import type { Logger } from '../observability/logger.ts';
import type { BlockRef, BrokerClient } from './broker-client.ts';

const POLL_MS = 1_000;
/** A latest block heard longer ago than this is not trusted to bind tickets to. */
const STALE_MS = 30_000;

export class BlockClock {
  private readonly client: Pick<BrokerClient, 'latestBlock'>;
  private readonly pollMs: number;
  private readonly now: () => number;
  private readonly logger: Logger | null;
  private value: { block: BlockRef; at: number } | null = null;
  /** The first block seen and when, for the time a block takes. */
  private first: { number: bigint; at: number } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private failing = false;

  constructor(client: Pick<BrokerClient, 'latestBlock'>, options: { pollMs?: number; now?: () => number; logger?: Logger } = {}) {
    this.client = client;
    this.pollMs = options.pollMs ?? POLL_MS;
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? null;
  }

  /** Reads the latest block once (throws when the chain cannot be reached), then keeps it fresh. */
  async start(): Promise<void> {
    await this.poll(true);
    const tick = () => {
      void this.poll(false).finally(() => {
        if (this.timer) {
          this.timer = setTimeout(tick, this.pollMs);
          this.timer.unref();
        }
      });
    };
    this.timer = setTimeout(tick, this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async poll(throwing: boolean): Promise<void> {
    try {
      const block = await this.client.latestBlock();
      const at = this.now();
      if (!this.value || block.number > this.value.block.number) this.value = { block, at };
      else this.value.at = at;
      this.first ??= { number: block.number, at };
      if (this.failing) this.logger?.info({ block: block.number.toString() }, 'chain reachable again');
      this.failing = false;
    } catch (err) {
      if (throwing) throw err;
      if (!this.failing) this.logger?.warn({ err }, 'latest block could not be read');
      this.failing = true;
    }
  }

  /** The latest block, or null when none was heard within the last 30 s. */
  latest(): BlockRef | null {
    if (!this.value || this.now() - this.value.at > STALE_MS) return null;
    return this.value.block;
  }

  /** Milliseconds per block as observed since start, or null before two blocks (a chain that mines on demand). */
  msPerBlock(): number | null {
    if (!this.first || !this.value || this.value.block.number === this.first.number) return null;
    return (this.value.at - this.first.at) / Number(this.value.block.number - this.first.number);
  }
}
