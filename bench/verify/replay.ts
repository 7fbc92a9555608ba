// bench/verify/replay: the output verifier's rule replayed over comparisons that `bench:verify --dump` wrote,
// so its thresholds are chosen and checked offline, without transcoding again. For every content and rung it
// prints the honest renditions' false positives and each kind of fake's detection under the rule in
// broadcaster/output-verifier.ts and under the rule before it (detail recovered ≥ 0.55, then motion), and
// the margins: the honest renditions' lowest measures beside the fakes' highest, kind by kind. A fake that
// passes is listed with its measures. Prints figures only when every line of the dumps parsed.
// Usage: node bench/verify/replay.ts comparisons.jsonl [more.jsonl …]

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { judge, MIN_CLOSE_P10, MIN_DETAIL_RECOVERED, MIN_MOTION_SHARE, MIN_SOURCE_MOTION, MIN_SSIM_GAIN, type Measures } from '../../broadcaster/output-verifier.ts';
import { runBench } from '../support/report.ts';

const Line = z.object({
  content: z.string(),
  seg: z.number().int(),
  rung: z.string(),
  kind: z.string(),
  frames: z.number().int().nonnegative(),
  expectedFrames: z.number().positive(),
  mean: z.number(),
  p10: z.number(),
  minSsim: z.number(),
  blurred: z.number(),
  sourceMotion: z.number(),
  renditionMotion: z.number(),
});
type Line = z.infer<typeof Line>;

/** The rule before issue 10's noisy-content fix, for the before/after figures. */
function judgedBefore(m: Measures, expectedFrames: number): boolean {
  const recovered = m.blurred >= 1 ? (m.mean >= 1 ? 1 : 0) : (m.mean - m.blurred) / (1 - m.blurred);
  if (m.frames < expectedFrames * 0.8 || recovered < MIN_DETAIL_RECOVERED) return false;
  return !(m.sourceMotion > MIN_SOURCE_MOTION && m.renditionMotion < m.sourceMotion * MIN_MOTION_SHARE);
}

const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));

process.exit(
  await runBench('verify-replay', { dumps: files.join(',') }, async (bench) => {
    bench.check(files.length > 0, `${files.length} dumps`, 'no dump named (node bench/verify/replay.ts comparisons.jsonl)');
    const lines: Line[] = [];
    const bad: string[] = [];
    for (const file of files) {
      for (const [i, l] of readFileSync(file, 'utf8').split('\n').entries()) {
        if (l.trim() === '') continue;
        let parsed: ReturnType<typeof Line.safeParse> | undefined;
        try {
          parsed = Line.safeParse(JSON.parse(l));
        } catch {
          // not JSON: counted below
        }
        if (parsed?.success) lines.push(parsed.data);
        else bad.push(`${file}:${i + 1}`);
      }
    }
    bench.check(bad.length === 0, 'every line of the dumps is a comparison', `not comparisons: ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ` and ${bad.length - 5} more` : ''}`);
    bench.check(lines.some((l) => l.kind === 'honest') && lines.some((l) => l.kind !== 'honest'), `${lines.length} comparisons, honest and fake`, 'the dumps hold no honest or no fake comparison');

    const kinds = [...new Set(lines.map((l) => l.kind))];
    const groups = [...new Set(lines.map((l) => `${l.content} ${l.rung}`))];
    const count = (xs: Line[], pred: (l: Line) => boolean) => xs.filter(pred).length;
    const after = (l: Line) => judge(l.rung, l, l.expectedFrames);
    const gain = (l: Line) => l.mean - l.blurred;
    const recovered = (l: Line) => after(l).recovered;
    const fmt = (x: number) => x.toFixed(3);
    const lowest = (xs: Line[], f: (l: Line) => number) => (xs.length ? fmt(Math.min(...xs.map(f))) : '-');
    const highest = (xs: Line[], f: (l: Line) => number) => (xs.length ? fmt(Math.max(...xs.map(f))) : '-');

    bench.figure('per content and rung: honest n, false positives before → after; honest lowest recovered / gain (mean − blurred) / mean / p10; then each fake kind: detected before → after, highest recovered / gain / mean');
    for (const g of groups) {
      const here = lines.filter((l) => `${l.content} ${l.rung}` === g);
      const honest = here.filter((l) => l.kind === 'honest');
      const parts = [`${g}: honest ${honest.length}, FP ${count(honest, (l) => !judgedBefore(l, l.expectedFrames))} → ${count(honest, (l) => !after(l).ok)}; low rec ${lowest(honest, recovered)} gain ${lowest(honest, gain)} mean ${lowest(honest, (l) => l.mean)} p10 ${lowest(honest, (l) => l.p10)}`];
      for (const k of kinds.filter((k) => k !== 'honest')) {
        const fakes = here.filter((l) => l.kind === k);
        if (fakes.length === 0) continue;
        parts.push(`  ${k} ${count(fakes, (l) => !judgedBefore(l, l.expectedFrames))} → ${count(fakes, (l) => !after(l).ok)}/${fakes.length}; high rec ${highest(fakes, recovered)} gain ${highest(fakes, gain)} mean ${highest(fakes, (l) => l.mean)}`);
      }
      bench.figure(parts.join('\n'));
    }
    // The second branch's margins: what it lets through among honest renditions below MIN_DETAIL_RECOVERED,
    // beside the fakes below it that move as their source does (a frozen one is refused by motion anyway).
    const low = (l: Line) => recovered(l) < MIN_DETAIL_RECOVERED;
    const moves = (l: Line) => !(l.sourceMotion > MIN_SOURCE_MOTION && l.renditionMotion < l.sourceMotion * MIN_MOTION_SHARE);
    const name = (l: Line | undefined) => (l ? `${l.kind} ${l.content} #${l.seg} ${l.rung}` : 'none');
    const top = (xs: Line[], f: (l: Line) => number) => xs.reduce<Line | undefined>((a, l) => (!a || f(l) > f(a) ? l : a), undefined);
    const lowHonest = lines.filter((l) => l.kind === 'honest' && low(l));
    const lowFakes = lines.filter((l) => l.kind !== 'honest' && low(l) && moves(l));
    // Each condition of the second branch against the fakes that pass the other two: the one that stops them.
    const conditions: Array<[string, (l: Line) => number, number]> = [
      ['p10', (l) => l.p10, MIN_CLOSE_P10],
      ['gain (mean − blurred)', gain, MIN_SSIM_GAIN],
      ['mean − (1 − source motion)', (l) => l.mean - (1 - l.sourceMotion), 0],
    ];
    const parts = [`second branch: ${lowHonest.length} honest renditions below ${MIN_DETAIL_RECOVERED} recovered`];
    for (const [label, f, threshold] of conditions) {
      const others = conditions.filter((c) => c[0] !== label);
      const nearest = top(lowFakes.filter((l) => others.every(([, g, t]) => g(l) >= t)), f);
      parts.push(`  ${label} ≥ ${threshold}: honest lowest ${lowest(lowHonest, f)}; highest of the moving fakes that pass the other two ${nearest ? fmt(f(nearest)) : '-'} (${name(nearest)})`);
    }
    bench.figure(parts.join('\n'));
    const honest = lines.filter((l) => l.kind === 'honest');
    bench.figure(`false positives on honest renditions: before ${count(honest, (l) => !judgedBefore(l, l.expectedFrames))}/${honest.length}, after ${count(honest, (l) => !after(l).ok)}/${honest.length}`);
    for (const l of honest.filter((x) => !after(x).ok)) bench.figure(`  false positive: ${l.content} #${l.seg} ${l.rung}: ${after(l).reason}`);
    for (const k of kinds.filter((k) => k !== 'honest')) {
      const fakes = lines.filter((l) => l.kind === k);
      bench.figure(`detected ${k}: before ${count(fakes, (l) => !judgedBefore(l, l.expectedFrames))}/${fakes.length}, after ${count(fakes, (l) => !after(l).ok)}/${fakes.length}`);
      for (const l of fakes.filter((x) => after(x).ok)) bench.figure(`  missed: ${k} on ${l.content} #${l.seg} ${l.rung} (mean ${fmt(l.mean)}, p10 ${fmt(l.p10)}, blurred ${fmt(l.blurred)}, recovered ${fmt(recovered(l))}, motion ${l.renditionMotion.toFixed(4)} of ${l.sourceMotion.toFixed(4)})`);
    }
  }),
);
