// A transcoder's or relay's announcement loop: its signed capability record on the gossip topic, at a
// fixed interval, with its current load (and for relays the streams it holds and its busiest streams' stats).

import type { Identity } from '../protocol/identity.ts';
import { ANNOUNCEMENT_TOPIC, ANNOUNCEMENT_VERSION, announcedStats, signAnnouncement } from '../protocol/node-announcement.ts';
import type { NodeRegistration } from '../protocol/node-record.ts';
import type { Logger } from '../observability/logger.ts';
import type { P2pHost } from './p2p-host.ts';

export class Announcer {
  private timer: NodeJS.Timeout | null = null;
  private readonly host: P2pHost;
  private readonly identity: Identity;
  private readonly record: () => NodeRegistration;
  private readonly logger: Logger;

  constructor(host: P2pHost, identity: Identity, record: () => NodeRegistration, logger: Logger) {
    this.host = host;
    this.identity = identity;
    this.record = record;
    this.logger = logger;
  }

  async announce(): Promise<void> {
    const r = this.record();
    const bytes = signAnnouncement(
      { version: ANNOUNCEMENT_VERSION, role: r.role, url: r.url, paymentAddress: this.identity.address, capabilities: r.capabilities, load: r.load, streams: r.streams ?? [], stats: announcedStats(r.stats ?? []), timestamp: Date.now() },
      this.identity,
    );
    try {
      await this.host.publish(ANNOUNCEMENT_TOPIC, bytes);
    } catch (err) {
      this.logger.debug({ err }, 'announcement not sent (no peers yet)');
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
