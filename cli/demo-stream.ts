// The dev network's demo stream: FFmpeg pushes a synthetic test pattern over real RTMP, restarted if it
// exits, until stopped.

import { spawn, type ChildProcess } from 'node:child_process';
import { ffmpegBinaries } from '../media/ffmpeg-binaries.ts';
import { testPatternArgs } from '../media/test-pattern.ts';
import type { Logger } from '../observability/logger.ts';

export class DemoStream {
  private child: ChildProcess | null = null;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly rtmpUrl: string;
  private readonly logger: Logger;

  constructor(rtmpUrl: string, logger: Logger) {
    this.rtmpUrl = rtmpUrl;
    this.logger = logger.child({ component: 'demo-stream' });
  }

  start(): void {
    if (this.stopped) return;
    const args = testPatternArgs({ width: 1280, height: 720, fps: 30, seconds: 0, output: this.rtmpUrl, realtime: true, videoBitrate: '2500k' });
    // Detached: Ctrl-C reaches castnet, which stops the demo itself, instead of killing FFmpeg first.
    const child = spawn(ffmpegBinaries().ffmpeg, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    this.child = child;
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.on('exit', (code, signal) => {
      this.child = null;
      if (this.stopped) return;
      this.logger.warn({ code, signal, stderr: stderr.trim() }, 'demo stream exited; restarting in 2 s');
      this.restartTimer = setTimeout(() => this.start(), 2_000);
      this.restartTimer.unref();
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.child?.kill('SIGKILL');
  }
}
