import { describe, it, expect } from 'vitest';
import { BenchFailure, median, requireExecutable, runBench, type BenchOutput } from './report.ts';

function capture(): BenchOutput & { lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (l) => lines.push(l), error: (l) => lines.push(l) };
}

describe('runBench', () => {
  it('prints parameters, checks, then figures, and returns 0 when every check holds', async () => {
    const out = capture();
    const status = await runBench('demo', { seconds: 3 }, async (bench) => {
      bench.figure('ratio 1.000');
      bench.check(true, '10/10 responses 200');
    }, out);
    expect(status).toBe(0);
    expect(out.lines[0]).toBe('bench/demo: seconds=3');
    expect(out.lines[1]).toBe('checked: 10/10 responses 200');
    expect(out.lines.at(-1)).toBe('ratio 1.000');
  });

  it('prints no figure and returns 1 when a check fails', async () => {
    const out = capture();
    const status = await runBench('demo', {}, async (bench) => {
      bench.check(true, 'first run fine');
      bench.figure('ratio 0.010');
      bench.check(false, '10/10 responses 200', '3 of 10 responses were 404');
      bench.figure('never reached');
    }, out);
    expect(status).toBe(1);
    expect(out.lines.some((l) => l.includes('ratio'))).toBe(false);
    expect(out.lines).toContain('FAILED: 3 of 10 responses were 404');
  });

  it('fails a run that made no check', async () => {
    const out = capture();
    const status = await runBench('demo', {}, async (bench) => bench.figure('ratio 1.000'), out);
    expect(status).toBe(1);
    expect(out.lines.some((l) => l.includes('ratio'))).toBe(false);
  });

  it('fails with the install hint when a tool is missing', async () => {
    const out = capture();
    const status = await runBench('demo', {}, async () => requireExecutable('/nonexistent/wrk', 'apt-get install wrk'), out);
    expect(status).toBe(1);
    expect(out.lines).toContain('FAILED: /nonexistent/wrk is missing: apt-get install wrk');
  });
});

describe('median', () => {
  it('takes the middle sample and refuses an empty list', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(() => median([])).toThrow(BenchFailure);
  });
});
