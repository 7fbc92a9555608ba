// Admission to the transcoder's FFmpeg slots: `concurrency` segments run at once, up to `maxQueued` more
// wait in arrival order, and past that a segment is refused with 503 so the broadcaster tries another node.
// Runs per segment: a counter check and, when full, one promise.

import { CastnetError, type ErrorContext } from '../protocol/errors.ts';

const gaveUp = (context: ErrorContext) => new CastnetError('UNAVAILABLE', 'the sender gave up while the segment waited for a slot', context);

export interface AdmissionQueueOptions {
  /** Segments transcoded at once. */
  concurrency: number;
  /** Segments that may wait for a slot; one more is refused. */
  maxQueued: number;
}

export class AdmissionQueue {
  private readonly options: AdmissionQueueOptions;
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(options: AdmissionQueueOptions) {
    this.options = options;
  }

  /** Segments holding a slot now. */
  get active(): number {
    return this.running;
  }

  /** Segments waiting for a slot now. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Waits for a slot and returns the function that gives it back (call it exactly once). Throws 503
   * NO_NODE_AVAILABLE at once when every slot is taken and the queue is full. When `cancelled` aborts
   * while it waits, it leaves the queue and throws UNAVAILABLE: a sender that gave up takes no slot.
   */
  async admit(context: ErrorContext = {}, cancelled?: AbortSignal): Promise<() => void> {
    if (cancelled?.aborted) throw gaveUp(context);
    if (this.running < this.options.concurrency) {
      this.running++;
    } else {
      if (this.waiting.length >= this.options.maxQueued) throw new CastnetError('NO_NODE_AVAILABLE', 'transcoder is at capacity', context);
      // The slot is handed over by release() as is, so a newcomer cannot take it in between.
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const at = this.waiting.indexOf(handOver);
          if (at >= 0) this.waiting.splice(at, 1);
          reject(gaveUp(context));
        };
        const handOver = () => {
          cancelled?.removeEventListener('abort', onAbort);
          resolve();
        };
        this.waiting.push(handOver);
        cancelled?.addEventListener('abort', onAbort, { once: true });
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    };
  }

  /** Runs `work` in a slot, giving the slot back however it ends. */
  async run<T>(work: () => Promise<T>, context: ErrorContext = {}): Promise<T> {
    const release = await this.admit(context);
    try {
      return await work();
    } finally {
      release();
    }
  }
}
