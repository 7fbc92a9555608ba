// One byte budget for every segment a relay holds in memory: pushed by broadcasters (the stream store) and
// pulled from parents (the segment cache). Pushed segments are the only copy of a live stream, so they
// come first: a push that does not fit asks the pull cache to give bytes back, never the other way round.

export class ByteBudget {
  readonly limit: number;
  private usedBytes = 0;
  private readonly reclaimers: Array<(bytes: number) => void> = [];

  constructor(limitBytes: number) {
    this.limit = limitBytes;
  }

  get used(): number {
    return this.usedBytes;
  }

  /** Someone who can give bytes back on demand (the pull cache evicts); asked before a reservation fails. */
  onPressure(reclaim: (bytesNeeded: number) => void): void {
    this.reclaimers.push(reclaim);
  }

  /** Whether `bytes` more fit, after asking reclaimers for room; takes nothing (call `take` once stored). */
  reserve(bytes: number): boolean {
    for (const reclaim of this.reclaimers) {
      if (this.usedBytes + bytes <= this.limit) return true;
      reclaim(this.usedBytes + bytes - this.limit);
    }
    return this.usedBytes + bytes <= this.limit;
  }

  take(bytes: number): void {
    this.usedBytes += bytes;
  }

  give(bytes: number): void {
    this.usedBytes -= bytes;
  }
}
