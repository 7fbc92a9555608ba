// An announcement loop: a freshly signed record on a gossip topic at a fixed interval (a transcoder's or
// relay's capability record with its current load; the orchestrator's record with its URL).

import type { Logger } from '../observability/logger.ts';
import type { P2pHost } from './p2p-host.ts';

export class Announcer {
  private timer: NodeJS.Timeout | null = null;
  private readonly host: P2pHost;
  private readonly topic: string;
  private readonly signed: () => Uint8Array;
  private readonly logger: Logger;

  /** `signed` is called at each tick, so every record carries the state and timestamp of that moment. */
  constructor(host: P2pHost, topic: string, signed: () => Uint8Array, logger: Logger) {
    this.host = host;
    this.topic = topic;
    this.signed = signed;
    this.logger = logger;
  }

  async announce(): Promise<void> {
    try {
      await this.host.publish(this.topic, this.signed());
    } catch (err) {
      this.logger.debug({ err, topic: this.topic }, 'announcement not sent (no peers yet)');
    }
  }

  start(intervalMs: number): void {
    const tick = () => {
      void this.announce();
      this.timer = setTimeout(tick, intervalMs);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
