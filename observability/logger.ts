// Structured logging: one JSON object a line (pino), a child logger per component with its context bound.
// On a terminal the console shows readable lines instead (CASTNET_LOG_FORMAT=json|pretty overrides).
// Lines are rate limited per message (log-limiter.ts) and written through a LogSink, so neither a flood of
// refusals nor a full disk can stall the process; the log file is created 0600 and rotated at a size cap.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';
import { consoleStream } from './console-format.ts';
import { LogLimiter } from './log-limiter.ts';
import { LOG_KEEP_FILES, LOG_MAX_BYTES, LogSink } from './log-sink.ts';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Also write every line at `level` to this file; the console then shows warnings and errors only. */
  file?: string;
  /** The file is rotated at this size (CASTNET_LOG_MAX_BYTES). */
  maxFileBytes?: number;
  /** Rotated files kept (CASTNET_LOG_KEEP_FILES). */
  keepFiles?: number;
  /** Lines per message (CASTNET_LOG_LINES_PER_SECOND); 0 turns the limit off. */
  linesPerSecond?: number;
}

/** What the process's loggers held back or lost; /metrics reports it (metrics-registry.ts). */
export const logStats = {
  sinks: new Set<LogSink>(),
  limiters: new Set<LogLimiter>(),
  get dropped(): number {
    let n = 0;
    for (const s of this.sinks) n += s.dropped;
    return n;
  },
  get suppressed(): number {
    let n = 0;
    for (const l of this.limiters) n += l.suppressedTotal;
    return n;
  },
};

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** pino's logMethod hook: a line over its message's rate is dropped; the next one says how many were. */
function limitedHook(limiter: LogLimiter) {
  return function (this: Logger, args: unknown[], method: (...a: unknown[]) => void, level: number) {
    const msg = typeof args[0] === 'string' ? args[0] : typeof args[1] === 'string' ? args[1] : '';
    const held = limiter.take(`${level}:${msg}`);
    if (held === null) return;
    if (held > 0) {
      if (typeof args[0] === 'object' && args[0] !== null) args = [{ ...(args[0] as object), suppressed: held }, ...args.slice(1)];
      else args = [{ suppressed: held }, ...args];
    }
    method.apply(this, args);
  };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.CASTNET_LOG_LEVEL ?? 'info';
  const perSecond = options.linesPerSecond ?? envNumber('CASTNET_LOG_LINES_PER_SECOND');
  const limiter = perSecond === 0 ? null : new LogLimiter(perSecond === undefined ? {} : { perSecond });
  if (limiter) logStats.limiters.add(limiter);
  const base = { name: 'castnet', level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime, ...(limiter ? { hooks: { logMethod: limitedHook(limiter) } } : {}) };
  const pretty = (out: NodeJS.WriteStream) => (process.env.CASTNET_LOG_FORMAT ? process.env.CASTNET_LOG_FORMAT === 'pretty' : out.isTTY === true);
  const sink = (target: string | number) => {
    const s = new LogSink({ target, sync: typeof target === 'number', maxBytes: options.maxFileBytes ?? envNumber('CASTNET_LOG_MAX_BYTES') ?? LOG_MAX_BYTES, keep: options.keepFiles ?? envNumber('CASTNET_LOG_KEEP_FILES') ?? LOG_KEEP_FILES });
    logStats.sinks.add(s);
    return s;
  };
  if (!options.file) return pretty(process.stdout) ? pino(base, consoleStream(process.stdout)) : pino(base, sink(1));
  mkdirSync(dirname(options.file), { recursive: true });
  return pino(
    base,
    pino.multistream([
      { level: level as pino.Level, stream: sink(options.file) },
      { level: 'warn', stream: pretty(process.stderr) ? consoleStream(process.stderr) : sink(2) },
    ]),
  );
}

/** A logger that writes nothing, for callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
