// bench/verify: what checking costs and what it catches. On a generated corpus of varied content (motion,
// detail, noise, flat areas, a still picture, a pan; test/support/fake-renditions.ts): CPU time of output
// verification of a segment's ladder relative to the transcode of that ladder (FFmpeg's CPU, user + system,
// of the child processes, in the same run), the detection rate of every kind of fake, and false positives
// on honest libx264 output; then the cost of signing a segment (broadcaster), checking it at a relay
// (node:crypto SHA-256, cached public key) and at a player (the same check with JS SHA-256, as a browser
// without WebCrypto runs it), per segment relative to hashing its bytes once. Prints figures only when every
// FFmpeg run produced frames to compare and every honest signature checks.
// Segments are visited segment by segment across contents, so a shorter run still covers every content.
// Usage: npm run bench:verify [-- --contents testsrc2,mandelbrot --seconds 6] [--rungs 720p,360p: honest
// rungs transcoded and checked, default the whole ladder] [--fake-rungs lowest|all: where fakes are made,
// default the lowest rung] [--dump file.jsonl: every comparison, one line
// each, to study the judge's thresholds offline]

import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 as jsSha256 } from '@noble/hashes/sha2.js';
import { parseFlags } from '../../cli/options.ts';
import { judge, measuresOf, MIN_SOURCE_MOTION, OutputVerifier } from '../../broadcaster/output-verifier.ts';
import { compareWithSource, type Comparison } from '../../media/perceptual-compare.ts';
import { probeTs } from '../../media/ts-probe.ts';
import { checkSegmentSignature, signSegment } from '../../protocol/content-signature.ts';
import { identityFromPrivateKey } from '../../protocol/identity.ts';
import { fitLadder, defaultLadderRungs } from '../../protocol/rendition.ts';
import { checkSegmentBytes, sha256, signSegmentBytes } from '../../protocol/segment-signing.ts';
import { transcodeSegment } from '../../transcoder/segment-transcoder.ts';
import { CONTENT, FAKE_KINDS, fakeRendition, sourceSegments } from '../../test/support/fake-renditions.ts';
import { median, runBench } from '../support/report.ts';

const { flags } = parseFlags(process.argv.slice(2));
const contents = String(flags.get('contents') ?? Object.keys(CONTENT).join(',')).split(',');
const seconds = Number(flags.get('seconds') ?? 6);
const rungFilter = flags.has('rungs') ? String(flags.get('rungs')).split(',') : null;
const fakeRungs = String(flags.get('fake-rungs') ?? 'lowest');
const dump = flags.has('dump') ? String(flags.get('dump')) : null;
if (dump) writeFileSync(dump, '');

/** One comparison as --dump writes it: what `judge` needs, and where it came from. */
function record(content: string, seg: number, rung: string, kind: string, c: Comparison, expectedFrames: number): void {
  if (!dump) return;
  const { ssim, ...rest } = c;
  appendFileSync(dump, JSON.stringify({ content, seg, rung, kind, frames: ssim.length, expectedFrames, ...rest, minSsim: Math.min(...ssim) }) + '\n');
}

/** CPU seconds of this process's waited-for children (FFmpeg), from /proc (fields cutime, cstime; 100 Hz). */
function childCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

async function childCpu<T>(work: () => Promise<T>): Promise<{ value: T; cpu: number }> {
  const before = childCpuSeconds();
  const value = await work();
  return { value, cpu: childCpuSeconds() - before };
}

process.exit(
  await runBench('verify', { contents: contents.join(','), seconds, segmentSeconds: 2, ladder: '720p,480p,360p (the default)' }, async (bench) => {
    const ratios: number[] = [];
    const detected: Record<string, [number, number]> = Object.fromEntries(FAKE_KINDS.map((k) => [k, [0, 0]]));
    const stillMisses: Record<string, number> = Object.fromEntries(FAKE_KINDS.map((k) => [k, 0]));
    let honest = 0;
    let falsePositives = 0;
    let current = { content: '', seg: 0, duration: 0 };
    const recording: typeof compareWithSource = async (source, renditions, options) => {
      const results = await compareWithSource(source, renditions, options);
      for (const r of renditions) record(current.content, current.seg, r.name, 'honest', results.get(r.name)!, r.fps * current.duration);
      return results;
    };
    const verifier = new OutputVerifier({ verifyRate: 1, verifyFirst: 0, compare: recording });
    const sources = new Map<string, { segments: Buffer[]; others: Buffer[] }>();
    const cut = new Map<string, Promise<Buffer[]>>();
    const segmentsOf = (name: string) => cut.get(name) ?? cut.set(name, sourceSegments(CONTENT[name]!, seconds)).get(name)!;
    const names = Object.keys(CONTENT);
    for (const name of contents) {
      bench.check(CONTENT[name] !== undefined, `content ${name}`, `no content named ${name} (have ${names.join(', ')})`);
      const segments = await segmentsOf(name);
      // The other content is the next one in CONTENT's order, never the content itself (as it was with a
      // single --contents), and the same whatever --contents narrows the run to.
      const other = names[(names.indexOf(name) + 1) % names.length]!;
      const others = await segmentsOf(other);
      bench.check(segments.length >= 2, `${name}: ${segments.length} segments`, `${name}: only ${segments.length} segments cut`);
      sources.set(name, { segments, others });
    }
    const most = Math.max(...[...sources.values()].map((v) => v.segments.length));
    for (let s = 1; s < most; s++) {
      for (const name of contents) {
        const { segments, others } = sources.get(name)!;
        if (s >= segments.length) continue;
        const segment = segments[s]!;
        const info = probeTs(segment);
        current = { content: name, seg: s, duration: info.duration };
        const ladder = fitLadder(info, defaultLadderRungs).filter((r) => !rungFilter || rungFilter.includes(r.name));
        bench.check(ladder.length > 0, `${name} #${s}: rungs ${ladder.map((r) => r.name).join(',')}`, `no rung of ${rungFilter?.join(',')} fits`);
        const transcode = await childCpu(() => transcodeSegment({ segment, renditions: ladder, copyAudio: true, sourceFps: info.fps, context: {} }, 'libx264'));
        const verify = await childCpu(() => verifier.verify(segment, info, transcode.value, 120_000));
        bench.check(verify.value.every((v) => v.frames > 0), `${name} #${s}: frames compared in every rendition`, `${name} #${s}: no frames compared`);
        ratios.push(verify.cpu / transcode.cpu);
        for (const v of verify.value) {
          honest++;
          if (!v.ok) {
            falsePositives++;
            bench.figure(`false positive: ${name} #${s} ${v.rendition}: ${v.reason}`);
          }
        }
        // Fakes at the lowest rung (the cheapest to make, and the one a cheat would most like to fake), or at every rung.
        for (const spec of fakeRungs === 'all' ? ladder : [ladder.at(-1)!]) {
          for (const kind of FAKE_KINDS) {
            const fake = await fakeRendition(kind, segment, spec, { earlier: segments[s - 1]!, other: others[s] ?? others[0]! });
            const c = (await compareWithSource(segment, [{ name: spec.name, bytes: fake, width: spec.width, height: spec.height, fps: spec.fps }], { sourceFps: info.fps, timeoutMs: 120_000 })).get(spec.name)!;
            record(name, s, spec.name, kind, c, spec.fps * info.duration);
            const v = judge(spec.name, measuresOf(c), spec.fps * info.duration);
            detected[kind]![1]++;
            if (!v.ok) detected[kind]![0]++;
            else {
              // A frozen frame or another moment of a source that does not move is the same picture.
              const still = v.sourceMotion <= MIN_SOURCE_MOTION;
              if (still) stillMisses[kind]!++;
              bench.figure(`missed: ${kind} on ${name} #${s} ${spec.name} (recovered ${v.recovered.toFixed(2)}, SSIM ${v.ssim.toFixed(3)}, p10 ${v.p10.toFixed(3)}, blurred ${v.blurred.toFixed(3)}, motion ${v.renditionMotion.toFixed(4)} of ${v.sourceMotion.toFixed(4)}${still ? ': a still source' : ''})`);
            }
          }
        }
        bench.progress(`${name} #${s} done`);
      }
    }
    bench.figure(`verification CPU / transcode CPU per verified segment (whole ladder): median ${median(ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)} over ${ratios.length} segments`);
    for (const [kind, [hit, all]] of Object.entries(detected)) bench.figure(`detected ${kind}: ${hit}/${all}${stillMisses[kind] ? ` (${stillMisses[kind]} of the ${all - hit} missed on a still source, where it is the same picture)` : ''}`);
    bench.figure(`false positives on honest libx264 output: ${falsePositives}/${honest} renditions`);

    // Signing and checking, per segment of ~1.5 MB (a 6 Mb/s 2 s segment).
    const bytes = new Uint8Array(188 * 8000).map((_, i) => (i * 31) & 0xff);
    const key = secp256k1.utils.randomSecretKey();
    const publisher = identityFromPrivateKey(key).address;
    const at = { playbackId: 'bench', rendition: 'source', seq: 7 };
    const meta = { duration: 2, programDateTime: new Date().toISOString(), discontinuity: false };
    const n = 50;
    const time = (work: () => unknown) => {
      const start = performance.now();
      for (let i = 0; i < n; i++) work();
      return (performance.now() - start) / n;
    };
    const signature = signSegmentBytes(key, at, meta, bytes);
    bench.check(checkSegmentBytes(publisher, at, meta, bytes, signature) === null, 'an honest signature checks', 'an honest signature does not check');
    const hashOnce = time(() => sha256(bytes));
    const sign = time(() => signSegmentBytes(key, at, meta, bytes));
    const relay = time(() => checkSegmentBytes(publisher, at, meta, bytes, signature));
    const player = time(() => checkSegmentSignature({ ...at, ...meta, sha256: jsSha256(bytes) }, signature, publisher));
    const signatureOnly = time(() => signSegment({ ...at, ...meta, sha256: new Uint8Array(32) }, key));
    bench.figure(`per 1.5 MB segment: SHA-256 (node:crypto) ${hashOnce.toFixed(2)} ms; sign at the broadcaster ${sign.toFixed(2)} ms (${signatureOnly.toFixed(2)} ms of it the signature); check at a relay ${relay.toFixed(2)} ms (${(relay / hashOnce).toFixed(1)}× one hash); check as a player without WebCrypto ${player.toFixed(2)} ms`);
  }),
);
