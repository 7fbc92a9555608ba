// Where log lines go: a file (created 0600, since lines name keys' addresses and peers) or a descriptor such
// as stdout, written asynchronously in batches. A full disk or any write error never blocks or crashes the
// process: lines are dropped and counted, and writing resumes when the disk takes them again. A file has a
// size cap: past it, it is rotated (castnet.log → castnet.log.1 → … → castnet.log.<keep>, the oldest removed).

import { closeSync, fstatSync, openSync, renameSync, rmSync, write, writeSync, fchmodSync } from 'node:fs';

export interface LogSinkOptions {
  /** A path to append to, or an open descriptor (1 for stdout); descriptors are never rotated. */
  target: string | number;
  /** A file this large is rotated. */
  maxBytes?: number;
  /** Rotated files kept besides the live one. */
  keep?: number;
  /** Lines waiting to be written beyond this are dropped (a disk slower than the log, or a stuck one). */
  maxPendingBytes?: number;
  /**
   * Write each line at once (stdout, as pino does by default, so a process that exits loses nothing);
   * a descriptor that would block (EAGAIN) falls back to the queue.
   */
  sync?: boolean;
}

/** Every open sink, written out synchronously when the process exits. */
const openSinks = new Set<LogSink>();
let exitHooked = false;

export const LOG_MAX_BYTES = 64 * 1024 * 1024;
export const LOG_KEEP_FILES = 3;
export const LOG_MAX_PENDING_BYTES = 4 * 1024 * 1024;

/** A pino destination (it only needs `write`). */
export class LogSink {
  /** Lines not written: the queue was full, or the disk refused them (ENOSPC, EIO…). */
  dropped = 0;
  /** Write errors seen, by code. */
  readonly errors = new Map<string, number>();
  rotations = 0;
  private fd: number;
  private size = 0;
  private queue: string[] = [];
  private pending = 0;
  private writing = false;
  private closed = false;
  private readonly path: string | null;
  private readonly maxBytes: number;
  private readonly keep: number;
  private readonly maxPending: number;

  constructor(options: LogSinkOptions) {
    this.path = typeof options.target === 'string' ? options.target : null;
    this.maxBytes = options.maxBytes ?? LOG_MAX_BYTES;
    this.keep = options.keep ?? LOG_KEEP_FILES;
    this.maxPending = options.maxPendingBytes ?? LOG_MAX_PENDING_BYTES;
    this.sync = options.sync ?? false;
    this.fd = this.path === null ? (options.target as number) : this.open(this.path);
    openSinks.add(this);
    if (!exitHooked) {
      exitHooked = true;
      process.once('exit', () => {
        for (const sink of openSinks) sink.flushSync();
      });
    }
  }

  private readonly sync: boolean;

  /** Writes what is queued now, in this tick; errors drop it. */
  flushSync(): void {
    if (this.queue.length === 0 || this.fd < 0) return;
    const buffer = Buffer.from(this.queue.join(''));
    const lines = this.queue.length;
    this.queue = [];
    this.pending = 0;
    try {
      writeSync(this.fd, buffer);
    } catch {
      this.dropped += lines;
    }
  }

  private open(path: string): number {
    const fd = openSync(path, 'a', 0o600);
    // A file made by an older version (or another umask) is narrowed too.
    const stat = fstatSync(fd);
    if (stat.isFile()) {
      if ((stat.mode & 0o777) !== 0o600) fchmodSync(fd, 0o600);
      this.size = stat.size;
    }
    return fd;
  }

  write(line: string): boolean {
    if (this.closed) return true;
    const bytes = Buffer.byteLength(line);
    if (this.pending + bytes > this.maxPending) {
      this.dropped++;
      return true;
    }
    if (this.sync && !this.writing && this.queue.length === 0) {
      try {
        const n = writeSync(this.fd, line);
        if (n === bytes) return true;
        line = Buffer.from(line).subarray(n).toString();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
        if (code !== 'EAGAIN') {
          this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
          this.dropped++;
          return true;
        }
      }
    }
    this.queue.push(line);
    this.pending += Buffer.byteLength(line);
    if (!this.writing) this.flush();
    return true;
  }

  /** Lines queued and not yet written. */
  get pendingBytes(): number {
    return this.pending;
  }

  private flush(): void {
    if (this.queue.length === 0 || this.closed) {
      this.writing = false;
      return;
    }
    this.writing = true;
    const lines = this.queue;
    this.queue = [];
    const buffer = Buffer.from(lines.join(''));
    this.pending -= buffer.length;
    this.writeAll(buffer, 0, lines.length);
  }

  private writeAll(buffer: Buffer, offset: number, lines: number): void {
    if (this.fd < 0 && this.path !== null) {
      try {
        this.fd = this.open(this.path);
      } catch {
        this.dropped += lines;
        return void setTimeout(() => this.flush(), 1_000).unref();
      }
    }
    write(this.fd, buffer, offset, buffer.length - offset, null, (err, n) => {
      if (err && (err as NodeJS.ErrnoException).code === 'EAGAIN') {
        // A pipe that is full for now: the same bytes again shortly.
        return void setTimeout(() => this.writeAll(buffer, offset, lines), 10).unref();
      }
      if (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
        this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
        // What this batch still held is lost; the next batch tries again.
        this.dropped += lines;
        return this.flush();
      }
      this.size += n;
      if (offset + n < buffer.length) return this.writeAll(buffer, offset + n, lines);
      if (this.path !== null && this.size >= this.maxBytes) this.rotate(this.path);
      this.flush();
    });
  }

  private rotate(path: string): void {
    try {
      closeSync(this.fd);
      rmSync(`${path}.${this.keep}`, { force: true });
      for (let i = this.keep - 1; i >= 1; i--) {
        try {
          renameSync(`${path}.${i}`, `${path}.${i + 1}`);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      if (this.keep > 0) renameSync(path, `${path}.1`);
      else rmSync(path, { force: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
    }
    this.size = 0;
    this.rotations++;
    try {
      this.fd = this.open(path);
    } catch (err) {
      // No file to write to (the directory went, no descriptors left): lines are dropped until one opens.
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
      this.fd = -1;
    }
  }

  /** Waits until what is queued is written (or dropped). */
  async drained(): Promise<void> {
    while (this.writing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
  }

  close(): void {
    if (this.closed) return;
    this.flushSync();
    this.closed = true;
    openSinks.delete(this);
    if (this.path !== null) closeSync(this.fd);
  }
}
