// Structured logging: one JSON object a line (pino), a child logger per component with its context bound.
// On a terminal the console shows readable lines instead (CASTNET_LOG_FORMAT=json|pretty overrides).

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';
import { consoleStream } from './console-format.ts';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Also write every line at `level` to this file; the console then shows warnings and errors only. */
  file?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.CASTNET_LOG_LEVEL ?? 'info';
  const base = { name: 'castnet', level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  const pretty = (out: NodeJS.WriteStream) => (process.env.CASTNET_LOG_FORMAT ? process.env.CASTNET_LOG_FORMAT === 'pretty' : out.isTTY === true);
  if (!options.file) return pretty(process.stdout) ? pino(base, consoleStream(process.stdout)) : pino(base);
  mkdirSync(dirname(options.file), { recursive: true });
  return pino(
    base,
    pino.multistream([
      { level: level as pino.Level, stream: pino.destination({ dest: options.file, sync: false, mkdir: true }) },
      { level: 'warn', stream: pretty(process.stderr) ? consoleStream(process.stderr) : process.stderr },
    ]),
  );
}

/** A logger that writes nothing, for callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
