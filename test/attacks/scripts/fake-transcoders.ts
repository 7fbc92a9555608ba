// Attack: transcoders that return fake output at the right resolution and duration, one per kind (other
// content, black, a solid colour, a frozen frame, another moment of the stream, absurdly low quality), in
// the attacker's own process and address. Each is a real transcoder (it registers, proves its URL, takes
// tickets) whose FFmpeg step makes the fake instead of the rendition. With `live` (low latency), the fakes
// answer progressive transcodes (POST /transcode/live) instead, streaming black or absurdly low quality
// fragment by fragment, on time and at the right size. Prints `{"listening": [urls]}`; on a
// line `stop` on stdin prints what each answered (segments by kind) and exits.

import { readFile, writeFile } from 'node:fs/promises';
import { createTranscoder, type Transcoder } from '../../../transcoder/transcoder.ts';
import type { LadderRunner } from '../../../transcoder/segment-transcoder.ts';
import { liveLadderArgs } from '../../../transcoder/ladder-command.ts';
import { spawnLiveLadder, type LiveRunner } from '../../../transcoder/live-transcode.ts';
import { createLogger } from '../../../observability/logger.ts';
import { ATTACKER_ADDRESS, attackArgs, finish } from '../../support/attacker.ts';
import { FAKE_KINDS, fakeRendition, type FakeKind } from '../../support/fake-renditions.ts';

const args = attackArgs<{ orchestrator: string; live?: boolean }>();
const served: Record<string, number> = {};

function fakeRunner(kind: FakeKind): LadderRunner {
  let earlier: Buffer | null = null;
  return async (job) => {
    const input = await readFile(job.input);
    for (const spec of job.renditions) await writeFile(job.outputs[spec.name]!, await fakeRendition(kind, input, spec, { earlier: earlier ?? input }));
    earlier = input;
    served[kind] = (served[kind] ?? 0) + 1;
  };
}

/**
 * Progressive fakes: the honest FFmpeg command with the picture replaced before it is scaled to the rung. Two,
 * as a stream is assigned two transcoders: both get its first segments (a third would wait for a session to
 * pick it, which the honest transcoder, once assigned, makes unlikely).
 */
const LIVE_FAKES = { black: 'drawbox=c=black:t=fill', 'low-quality': 'scale=32:18' } as const;

function fakeLiveRunner(kind: keyof typeof LIVE_FAKES): LiveRunner {
  return (job, onOutput, signal) => {
    served[kind] = (served[kind] ?? 0) + 1;
    const args = liveLadderArgs(job).map((a) => (a.startsWith('scale=') ? `${LIVE_FAKES[kind]},${a}` : a));
    return spawnLiveLadder(args, job, onOutput, signal);
  };
}

// The other-moment fake is registered first, so the scheduler (equal loads go to the node registered first)
// gives it the attacked stream's first segments: it must answer twice to be caught (its first answer is
// honest), and last in line it could run out of the test's time on a loaded machine before its turn came.
const kinds: string[] = args.live ? Object.keys(LIVE_FAKES) : ['another-time', ...FAKE_KINDS.filter((k) => k !== 'another-time')];
const transcoders: Transcoder[] = [];
for (const kind of kinds) {
  const fake = args.live ? { liveFfmpeg: fakeLiveRunner(kind as keyof typeof LIVE_FAKES) } : { ffmpeg: fakeRunner(kind as FakeKind) };
  const t = await createTranscoder({ host: ATTACKER_ADDRESS, httpPort: 0, orchestrator: args.orchestrator, encoder: 'libx264', dataDir: null }, { logger: createLogger({ level: 'silent' }), ...fake });
  await t.start();
  transcoders.push(t);
}
process.stdout.write(`${JSON.stringify({ listening: transcoders.map((t) => t.url), kinds })}\n`);
process.stdin.setEncoding('utf8');
process.stdin.on('data', (line: string) => {
  if (!line.includes('stop')) return;
  void Promise.all(transcoders.map((t) => t.stop())).finally(() => finish({ served }));
});
