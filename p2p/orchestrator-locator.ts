// Where a transcoder or relay finds its orchestrator (ledger, directory, registration): the URL it was
// given, or the one the orchestrator announces in its signed gossip record. The one owner of that URL:
// everything that calls the orchestrator asks `url()` at call time, so a learned or changed URL is used
// at once.

import type { Logger } from '../observability/logger.ts';
import type { OrchestratorRecord } from '../protocol/node-announcement.ts';

/** The single-machine default, used without bootstrap peers and without an explicit URL. */
export const LOCAL_ORCHESTRATOR_URL = 'http://127.0.0.1:8935';

/** An orchestrator silent this long may be replaced by another that announces itself. */
export const SILENT_MS = 30_000;

export class OrchestratorLocator {
  /** The URL given in the options: a URL, false for none, null for "not given". */
  readonly explicit: string | false | null;
  /** True when the URL must come from gossip: bootstrap peers and no explicit URL. */
  readonly learns: boolean;
  private learned: OrchestratorRecord | null = null;
  private readonly warned = new Set<string>();
  private readonly waiters: Array<() => void> = [];
  private readonly logger: Logger;

  constructor(explicit: string | false | null, viaGossip: boolean, logger: Logger) {
    this.explicit = typeof explicit === 'string' ? explicit.replace(/\/$/, '') : explicit;
    this.learns = explicit === null && viaGossip;
    this.logger = logger;
  }

  /** The orchestrator's URL now; null when there is none (yet). */
  url(): string | null {
    if (this.explicit === false) return null;
    if (this.explicit !== null) return this.explicit;
    if (this.learns) return this.learned?.url.replace(/\/$/, '') ?? null;
    return LOCAL_ORCHESTRATOR_URL;
  }

  /**
   * A verified orchestrator record. The first orchestrator heard is followed (its newer records may move
   * its URL); another key announcing meanwhile is logged, not followed: one orchestrator per network.
   */
  heard(record: OrchestratorRecord): void {
    const url = record.url.replace(/\/$/, '');
    if (this.explicit !== null) {
      if (this.explicit && url !== this.explicit) this.warnOnce(`explicit:${url}`, { announced: url, using: this.explicit }, 'the network announces another orchestrator URL than --orchestrator; using --orchestrator');
      return;
    }
    const current = this.learned;
    // Another key is followed only once the first has been silent past SILENT_MS (replaced, not rivalled).
    if (current && current.paymentAddress !== record.paymentAddress && record.timestamp - current.timestamp < SILENT_MS) {
      this.warnOnce(`other:${record.paymentAddress}`, { announced: url, address: record.paymentAddress, following: current.url }, 'a second orchestrator announces itself; still following the first');
      return;
    }
    if (current && record.timestamp <= current.timestamp) return;
    this.learned = record;
    if (!current || current.url !== record.url) this.logger.info({ orchestrator: url, address: record.paymentAddress }, 'orchestrator learned from its signed announcement');
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves true once an orchestrator URL is known, false after `timeoutMs`. */
  async known(timeoutMs: number): Promise<boolean> {
    if (this.url() !== null) return true;
    let timer: NodeJS.Timeout | undefined;
    const heard = await Promise.race([
      new Promise<boolean>((resolve) => this.waiters.push(() => resolve(true))),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return heard;
  }

  private warnOnce(key: string, fields: object, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.logger.warn(fields, message);
  }
}
