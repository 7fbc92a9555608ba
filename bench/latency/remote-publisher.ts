// bench/latency: the bench's handle on a publisher running in its own process (publisher-process.ts): the same
// figures as a FramePublisher (each frame's send time on the wall clock, the counters, why it failed), kept up
// to date from that process's reports. The process runs at niceness PUBLISHER_NICE when the bench may raise a
// priority (root), and FFmpeg inherits it: on a loaded machine the "camera" goes first.

import { spawn, type ChildProcess } from 'node:child_process';
import type { FramePublisherOptions, FramePublisherStats } from './frame-publisher.ts';

const PUBLISHER_NICE = -10;
const STOP_MS = 10_000;

export interface PublisherReport {
  /** Index of sentAt[0] in the whole list. */
  from: number;
  sentAt: number[];
  stats: FramePublisherStats;
  failed: string | null;
}

export class RemotePublisher {
  readonly sentAt: number[] = [];
  stats: FramePublisherStats = { framesSent: 0, startupMs: -1, startupSkipped: 0, maxBacklogFrames: 0, lateFrames: 0 };
  /** Whether the publisher runs at a raised priority (only root may raise one). */
  readonly raisedPriority = process.getuid?.() === 0;
  private failure: string | null = null;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private readonly options: FramePublisherOptions;

  constructor(options: FramePublisherOptions) {
    this.options = options;
  }

  get failed(): string | null {
    return this.failure;
  }

  start(): void {
    if (this.child) throw new Error('publisher already started');
    const entry = ['bench/latency/publisher-process.ts', JSON.stringify(this.options)];
    // nice(1) execs node, which keeps the IPC channel's descriptor and the variable naming it.
    const [bin, args] = this.raisedPriority ? ['nice', ['-n', String(PUBLISHER_NICE), process.execPath, ...entry]] : [process.execPath, entry];
    const child = spawn(bin, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      if (!this.stopping) this.failure ??= `publisher process exited (${code ?? signal}) before it was stopped`;
      resolve();
    }));
    child.on('message', (m: PublisherReport) => {
      // Reports arrive in order; a gap would mean a lost report, and then send times would be misplaced.
      if (m.from !== this.sentAt.length) this.failure ??= `publisher report out of order (${m.from}, have ${this.sentAt.length})`;
      else this.sentAt.push(...m.sentAt);
      this.stats = m.stats;
      if (m.failed) this.failure ??= m.failed;
    });
  }

  private stopping = false;

  /** Stops the publisher (FFmpeg flushes and exits), then its process; SIGKILL past STOP_MS. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || this.stopping) return this.exited;
    this.stopping = true;
    if (child.connected) child.send('stop');
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
    await this.exited;
    clearTimeout(kill);
  }
}
