// Segment sequence numbers that survive the end of a stream and a restart of the broadcaster. A stream that
// comes back after its reconnect grace, or after a crash, must not start again at 0: its relays still hold
// the old window, so new segments would be trimmed as old or overwrite published ones. Numbers are reserved
// in blocks in `<dataDir>/sequences.json` (one small write per block, not per segment); a stream starts at
// its last reserved mark, past every number it could have used (by 25 to 50), and its first segment is a
// discontinuity.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Numbers reserved at a time. A restart skips at most this many, which a relay accepts (its --max-seq-ahead
 * is 100 by default, more after silence).
 */
export const SEQUENCE_BLOCK = 50;
/**
 * A restart skips at least this many: more than a relay keeps of a stream by default (6 listed + 4 extra),
 * so the old window is trimmed whole and no playlist lists a jump between two of its entries (media
 * sequence numbers are implicit in HLS: each entry is the one before plus one).
 */
export const SEQUENCE_MIN_SKIP = 25;
/** Streams remembered; the least recently started are forgotten first. */
const MAX_STREAMS = 10_000;

export class SequenceReservations {
  private readonly path: string | null;
  private readonly marks: Map<string, number>;

  /** `path` null keeps the reservations in memory only (tests, throwaway broadcasters). */
  constructor(path: string | null) {
    this.path = path;
    this.marks = new Map(path ? read(path) : []);
  }

  /** Where a stream's sequence numbers start now (0 for a stream never seen); reserves the first block. */
  begin(playbackId: string): number {
    const start = this.marks.get(playbackId) ?? 0;
    this.marks.delete(playbackId);
    this.reserve(playbackId, start + SEQUENCE_BLOCK);
    return start;
  }

  /** Called with each sequence number used: the next block is reserved before the current one runs out. */
  used(playbackId: string, seq: number): void {
    const mark = this.marks.get(playbackId) ?? 0;
    if (mark - (seq + 1) < SEQUENCE_MIN_SKIP) this.reserve(playbackId, seq + 1 + SEQUENCE_BLOCK);
  }

  private reserve(playbackId: string, mark: number): void {
    this.marks.set(playbackId, mark);
    while (this.marks.size > MAX_STREAMS) this.marks.delete(this.marks.keys().next().value!);
    if (!this.path) return;
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.marks)), { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}

function read(path: string): Array<[string, number]> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // A torn file cannot name a mark: streams start past what a relay could hold of them instead.
    return [];
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return [];
  return Object.entries(json as Record<string, unknown>).filter((e): e is [string, number] => Number.isSafeInteger(e[1]) && (e[1] as number) >= 0);
}
