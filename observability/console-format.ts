// Human-readable log lines for a terminal: `12:00:01 WARN  relay  relay push failed  playbackId=… seq=4`.
// The log file and non-terminal stdout keep one JSON object a line; this only changes what a person reads.

import { Writable } from 'node:stream';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const COLOURS: Record<number, string> = { 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[31m' };
const OMIT = new Set(['level', 'time', 'msg', 'name', 'component', 'err']);

function value(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

/** Formats one pino JSON line; a line that is not JSON is passed through as it is. */
export function formatLogLine(line: string, colour = false): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = Number(entry.level);
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 19) : new Date().toISOString().slice(11, 19);
  const fields = Object.entries(entry)
    .filter(([k, v]) => !OMIT.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${value(v)}`)
    .join(' ');
  const err = entry.err as { message?: string; stack?: string } | undefined;
  const tag = LEVELS[level] ?? String(entry.level);
  const shown = colour && COLOURS[level] ? `${COLOURS[level]}${tag}\x1b[0m` : tag;
  const component = typeof entry.component === 'string' ? `${entry.component.padEnd(12)} ` : '';
  const errText = err ? `\n    ${(err.stack ?? err.message ?? '').split('\n').join('\n    ')}` : '';
  return `${time} ${shown} ${component}${String(entry.msg ?? '')}${fields ? `  ${fields}` : ''}${errText}\n`;
}

/** A stream for pino that writes formatted lines to `out` (a terminal). */
export function consoleStream(out: NodeJS.WriteStream): Writable {
  const colour = out.isTTY === true && !process.env.NO_COLOR;
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) out.write(formatLogLine(line, colour));
      done();
    },
  });
}
