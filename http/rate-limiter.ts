// Token buckets per key (a source address, a signer): `ratePerSecond` refills up to `burst`. The map of
// buckets is bounded: past `maxKeys`, the bucket touched longest ago goes (a key seen again starts full,
// which only ever favours a source that went quiet).

export interface RateLimiterOptions {
  ratePerSecond: number;
  burst: number;
  maxKeys?: number;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly ratePerMs: number;
  private readonly burst: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(options: RateLimiterOptions) {
    this.ratePerMs = options.ratePerSecond / 1_000;
    this.burst = options.burst;
    this.maxKeys = options.maxKeys ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Takes `cost` tokens from `key`'s bucket; false (nothing taken) when it has too few. */
  take(key: string, cost = 1): boolean {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) * this.ratePerMs);
      bucket.at = now;
      // Most recently used last, so the first key is the one to drop.
      this.buckets.delete(key);
    } else {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      bucket = { tokens: this.burst, at: now };
    }
    this.buckets.set(key, bucket);
    if (bucket.tokens < cost) return false;
    bucket.tokens -= cost;
    return true;
  }
}
