// Rate limits log lines per message, since many lines are caused by what anyone on the network sends (a
// refused push, a bad request, a dropped connection): each message may burst, then gets a few lines a second;
// what is held back is counted and reported on the next line of that message (`suppressed`).

export const LOG_BURST_LINES = 50;
export const LOG_LINES_PER_SECOND = 5;
/** Distinct messages tracked; past it the oldest are forgotten (messages are mostly fixed strings). */
const MAX_KEYS = 1_000;

interface Bucket {
  tokens: number;
  at: number;
  suppressed: number;
}

export class LogLimiter {
  /** Lines held back since the process started. */
  suppressedTotal = 0;
  private readonly buckets = new Map<string, Bucket>();
  private readonly burst: number;
  private readonly perSecond: number;
  private readonly now: () => number;

  constructor(options: { burst?: number; perSecond?: number; now?: () => number } = {}) {
    this.burst = options.burst ?? LOG_BURST_LINES;
    this.perSecond = options.perSecond ?? LOG_LINES_PER_SECOND;
    this.now = options.now ?? Date.now;
  }

  /** null: hold the line back; else how many lines of this message were held back before it. */
  take(key: string): number | null {
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= MAX_KEYS) this.buckets.delete(this.buckets.keys().next().value!);
      b = { tokens: this.burst, at: now, suppressed: 0 };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1_000) * this.perSecond);
    b.at = now;
    if (b.tokens < 1) {
      b.suppressed++;
      this.suppressedTotal++;
      return null;
    }
    b.tokens -= 1;
    const held = b.suppressed;
    b.suppressed = 0;
    return held;
  }
}
