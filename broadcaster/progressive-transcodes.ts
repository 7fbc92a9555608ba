// Low latency with CMAF renditions: each segment goes to a transcoder while it is being ingested, part by
// part (POST /transcode/live, live-transcode-client.ts), so its renditions come back while the source is
// still arriving. This keeps the segments' progressive transcodes: opened at a segment's first part (once
// the ladder is known), fed each part as the cutter writes it, ended with the segment; each rendition's init
// and fragments are handed to the pipeline as they arrive (it publishes them as parts when it trusts the
// transcoder), and the whole answer is kept for the pipeline's checks, which take it like any other answer
// (stream-pipeline.ts transcode()). Bounded: at most MAX_OPEN runs; an older one still open is abandoned.
// Hot path: one call per source part.

import type { Frame } from '../protocol/fragment-stream.ts';
import type { RenditionSpec } from '../protocol/rendition.ts';
import type { LiveTranscodeCall } from './live-transcode-client.ts';

/** Progressive transcodes open at once (the segment being ingested, and the ones finishing behind it). */
const MAX_OPEN = 3;

/** Each rendition's init segment and fragments, as a transcoder's answer arrives. */
export class RenditionCollector {
  readonly outputs: Array<{ init: Buffer | null; fragments: Buffer[] }>;
  private readonly ladder: ReadonlyArray<RenditionSpec>;

  constructor(ladder: ReadonlyArray<RenditionSpec>) {
    this.ladder = ladder;
    this.outputs = ladder.map(() => ({ init: null, fragments: [] }));
  }

  /** Takes one frame; a second init segment for a rendition is a malformed answer. */
  add(frame: Frame): void {
    const out = this.outputs[frame.rendition]!;
    if (frame.kind === 'init') {
      if (out.init) throw new Error(`a second init segment for ${this.ladder[frame.rendition]!.name}`);
      out.init = frame.payload;
    } else if (frame.kind === 'fragment') {
      if (!out.init) throw new Error(`a fragment of ${this.ladder[frame.rendition]!.name} before its init segment`);
      out.fragments.push(frame.payload);
    }
  }

  /** Each rendition that came back, as one MP4 (init segment, then its fragments), by name. */
  result(): Map<string, Buffer> {
    const renditions = new Map<string, Buffer>();
    this.outputs.forEach((o, i) => {
      if (o.init) renditions.set(this.ladder[i]!.name, Buffer.concat([o.init, ...o.fragments]));
    });
    return renditions;
  }
}

export interface ProgressiveHost {
  /** The transcoder segment `seq` should go to first (none of `avoid`), with the ladder to ask for; null when none can take it yet. */
  choose(seq: number, avoid: ReadonlyArray<string>): { transcoder: string; ladder: RenditionSpec[] } | null;
  /** A progressive transcode failed before its segment was taken (the transcoder died, refused, answered badly). */
  failed(seq: number, transcoder: string, err: unknown): void;
  /**
   * Pays and opens the call; `onFrame` gets every frame of the answer; `signal` abandons it. `keyframesAt`: a
   * stand-in's resume points (protocol/transcode-request.ts), where the parts that went out end.
   */
  open(transcoder: string, seq: number, ladder: RenditionSpec[], onFrame: (frame: Frame) => void, signal: AbortSignal, keyframesAt: number[] | null): Promise<LiveTranscodeCall>;
  /** One frame of a progressive answer, as it arrives (the pipeline publishes it, or not). */
  frame(seq: number, transcoder: string, ladder: RenditionSpec[], frame: Frame): void;
  /** Per rendition of `ladder`, the frames of segment `seq` that went out as parts (0: none); null when none did. */
  resumePoints(seq: number, ladder: RenditionSpec[]): number[] | null;
  /** The answer ended with every frame (before the pipeline takes it). */
  done(seq: number, transcoder: string): void;
}

interface Run {
  seq: number;
  transcoder: string;
  /** Every source byte given to the segment so far (init first): a stand-in starts from them. */
  sent: Buffer[];
  /** Transcoders this segment's runs failed on. */
  failedOn: string[];
  /** Taken by the pipeline: its failure is the pipeline's to handle. */
  taken: boolean;
  /** Source bytes waiting for the call to open (the payment comes first). */
  waiting: Buffer[];
  call: LiveTranscodeCall | null;
  ended: boolean;
  abort: AbortController;
  result: Promise<Map<string, Buffer>>;
}

export class ProgressiveTranscodes {
  private readonly host: ProgressiveHost;
  private readonly runs = new Map<number, Run>();
  private init: Buffer | null = null;

  constructor(host: ProgressiveHost) {
    this.host = host;
  }

  /** The publication's source init segment: every call starts with it. */
  sourceInit(bytes: Buffer): void {
    this.init = bytes;
  }

  /** A source part as the cutter wrote it: the first of a segment opens that segment's transcode. */
  sourcePart(seq: number, part: number, bytes: Buffer): void {
    if (part === 0) this.begin(seq);
    const run = this.runs.get(seq);
    if (!run) return;
    run.sent.push(bytes);
    if (run.call) run.call.write(bytes);
    else run.waiting.push(bytes);
  }

  /** The source segment is complete: its transcode has all of its input. */
  sourceComplete(seq: number): void {
    const run = this.runs.get(seq);
    if (!run || run.ended) return;
    run.ended = true;
    run.call?.end();
  }

  /**
   * The answer of segment `seq`'s progressive transcode when it went to `transcoder` (the pipeline's first
   * choice for it); null when there is none, and the pipeline transcodes the whole segment instead. Taken once.
   */
  take(seq: number, transcoder: string, signal: AbortSignal): Promise<Map<string, Buffer>> | null {
    const run = this.runs.get(seq);
    if (!run || run.transcoder !== transcoder) return null;
    run.taken = true;
    this.runs.delete(seq);
    signal.addEventListener('abort', () => run.abort.abort(), { once: true });
    return run.result;
  }

  /** Every run is abandoned (the publication ended, the pipeline stops). */
  abandonAll(): void {
    for (const run of this.runs.values()) run.abort.abort();
    this.runs.clear();
  }

  private begin(seq: number): void {
    const init = this.init;
    if (!init) return;
    // Older runs the pipeline never took (it skipped their segments) are abandoned beyond the bound.
    for (const old of [...this.runs.keys()].sort((a, b) => a - b)) {
      if (this.runs.size < MAX_OPEN && old !== seq) break;
      this.runs.get(old)!.abort.abort();
      this.runs.delete(old);
    }
    this.start(seq, [init], [], false, null);
  }

  /**
   * Opens segment `seq`'s transcode on the transcoder chosen for it, from the source bytes so far; its frames
   * go to the pipeline as they arrive. A run that fails before the pipeline takes it is replaced at once by a
   * stand-in on another transcoder, fed everything so far. When parts of the failed answer went out already,
   * the stand-in is asked for a keyframe at each rendition's next frame: its fragments from there continue
   * those parts (another encoder's fragments could not follow them mid-GOP), and the pipeline skips the ones
   * before. When nothing went out, the stand-in's parts start the segment.
   */
  private start(seq: number, sent: Buffer[], failedOn: string[], ended: boolean, keyframesAt: number[] | null): void {
    const chosen = this.host.choose(seq, failedOn);
    if (!chosen) return;
    const collector = new RenditionCollector(chosen.ladder);
    const run: Run = { seq, transcoder: chosen.transcoder, sent, failedOn, taken: false, waiting: [...sent], call: null, ended, abort: new AbortController(), result: Promise.resolve(new Map()) };
    run.result = (async () => {
      const call = await this.host.open(chosen.transcoder, seq, chosen.ladder, (frame) => {
        collector.add(frame);
        this.host.frame(seq, chosen.transcoder, chosen.ladder, frame);
      }, run.abort.signal, keyframesAt);
      run.call = call;
      for (const bytes of run.waiting.splice(0)) call.write(bytes);
      if (run.ended) call.end();
      await call.done;
      this.host.done(seq, chosen.transcoder);
      return collector.result();
    })();
    run.result.catch((err: unknown) => {
      if (run.taken || run.abort.signal.aborted || this.runs.get(seq) !== run) return;
      this.host.failed(seq, run.transcoder, err);
      this.runs.delete(seq);
      this.start(seq, run.sent, [...failedOn, run.transcoder], run.ended, this.host.resumePoints(seq, chosen.ladder));
    });
    this.runs.set(seq, run);
  }
}
