// What every benchmark shares: it prints its parameters, the validity checks it made, and then its figures,
// and only when every check passed. A failed check stops the run, prints no figure and exits non-zero, so a
// run that measured error responses or an idle system cannot report a number.

import { existsSync } from 'node:fs';

/** A check that did not hold, or a tool the benchmark needs that is missing. */
export class BenchFailure extends Error {
  override name = 'BenchFailure';
}

export interface Bench {
  /** Records a validity check: printed as `checked: …` when it holds; stops the run when it does not. */
  check(ok: boolean, passed: string, failed?: string): void;
  /** A measured figure, printed after the run and only if every check passed. */
  figure(line: string): void;
  /** A progress note with no figure in it (e.g. `round 1/3 done`), printed at once. */
  progress(line: string): void;
}

export interface BenchOutput {
  log(line: string): void;
  error(line: string): void;
}

const consoleOutput: BenchOutput = { log: (l) => console.log(l), error: (l) => console.error(l) };

/** Stops the run unless `path` exists, naming what to install. */
export function requireExecutable(path: string, install: string): void {
  if (!existsSync(path)) throw new BenchFailure(`${path} is missing: ${install}`);
}

/**
 * Runs a benchmark body; returns the exit status (0: every check passed and the figures were printed).
 * The body cleans up in its own `finally`, so the caller may `process.exit()` with the result.
 */
export async function runBench(name: string, parameters: Record<string, string | number | boolean>, body: (bench: Bench) => Promise<void>, out: BenchOutput = consoleOutput): Promise<number> {
  const figures: string[] = [];
  let checks = 0;
  const bench: Bench = {
    check(ok, passed, failed) {
      if (!ok) throw new BenchFailure(failed ?? `not as expected: ${passed}`);
      checks++;
      out.log(`checked: ${passed}`);
    },
    figure(line) {
      figures.push(line);
    },
    progress(line) {
      out.error(line);
    },
  };
  out.log(`bench/${name}: ${Object.entries(parameters).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  try {
    await body(bench);
  } catch (err) {
    const message = err instanceof BenchFailure ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    out.error(`FAILED: ${message}`);
    out.error(`bench/${name}: no figures printed (${figures.length} withheld)`);
    return 1;
  }
  if (checks === 0) {
    out.error(`FAILED: bench/${name} made no validity check; no figures printed`);
    return 1;
  }
  out.log(`\n${checks} checks passed; figures:`);
  for (const line of figures) out.log(line);
  return 0;
}

/** Median of a non-empty list. */
export function median(xs: ReadonlyArray<number>): number {
  if (xs.length === 0) throw new BenchFailure('median of no samples');
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/** Bytes as GiB/MiB/KiB, for check lines. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}
