// The origin relay's recordings (--recording): every segment of every rendition the relay accepted after its
// signature checks (MPEG-TS, and whole CMAF segments of low-latency renditions with the init segments they
// need, so a VOD of an LL stream carries EXT-X-MAP), kept as files under `<data dir>/recordings/<recordingId>/`, indexed in
// `recordings.sqlite` beside them, played back as VOD (`/vod/<recordingId>/…`) and as the rewind window of a
// live stream (`/dvr/<playbackId>/…`). Bounded by --recording-bytes (oldest ended recordings deleted first,
// whole; with only live ones left, their oldest segments) and --max-recordings, each deletion logged.
// One publication of a stream is one recording: it starts with the first segment after the stream
// (re)opened and ends when the stream ends or expires; a restart of the relay ends the recordings it left open.
// Per segment: one file write, queued (never on the push's path), and one row; playlists are built from the
// in-memory index and kept until it changes.

import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { writeMediaPlaylist, writeMultivariantPlaylist, type PlaylistEntry } from '../media/hls-playlist.ts';
import type { Logger } from '../observability/logger.ts';
import { CastnetError } from '../protocol/errors.ts';
import { idPattern, renditionNamePattern } from '../protocol/fields.ts';
import { signedSegmentHeaders } from '../protocol/segment-metadata.ts';
import { MAX_TARGET_DURATION_SECONDS, VARIANT_LIMITS, type Variant } from '../protocol/stream-record.ts';
import { addMissingColumns, openDatabase } from '../storage/sqlite.ts';
import { signedPlaybackPolicySchema, type SignedPlaybackPolicy } from '../protocol/playback-policy.ts';
import type { StoredSegment } from './stream-store.ts';

/** Recordings kept at most (ended ones deleted oldest first beyond it). */
export const MAX_RECORDINGS = 1_000;
/** Default bytes of recordings kept: 10 GiB. */
export const RECORDING_BYTES = 10 * 1024 ** 3;
/** Default rewind window. */
export const DVR_SECONDS = 300;
/** Segment writes waiting for the disk at most; beyond it a segment is not recorded (logged). */
const MAX_PENDING_WRITES = 256;
/** A thumbnail larger than this is not kept. */
export const THUMBNAIL_MAX_BYTES = 1024 * 1024;

export interface RecordedSegment {
  seq: number;
  duration: number;
  programDateTime: string;
  discontinuity: boolean;
  signature: string;
  bytes: number;
  /** CMAF: the sequence number of its init segment (`init-<seq>.mp4`); null for MPEG-TS. */
  init: number | null;
}

/** An init segment a CMAF segment about to be recorded needs: recorded once per rendition and sequence. */
export interface RecordedInitInput {
  seq: number;
  bytes: Buffer;
  headers: Record<string, string>;
}

interface RecordedInit {
  bytes: number;
  headers: Record<string, string>;
}

interface Recording {
  id: string;
  playbackId: string;
  startedMs: number;
  endedMs: number | null;
  variants: Variant[];
  targetDuration: number;
  bytes: number;
  renditions: Map<string, RecordedSegment[]>;
  /** Metadata of every seq of any rendition (a seq one rendition lacks is a gap in its playlist). */
  timeline: Map<number, RecordedSegment>;
  /** Init segments of CMAF renditions, by rendition and sequence. */
  inits: Map<string, Map<number, RecordedInit>>;
  /** Built playlists, dropped on every change. */
  cache: Map<string, Buffer>;
  thumbnail: boolean;
  /** The publisher-signed playback policy the stream carried (signed streams' recordings need a token too). */
  policy: SignedPlaybackPolicy | null;
}

/** A recording as `/api/recordings` lists it. */
export interface RecordingSummary {
  recordingId: string;
  playbackId: string;
  state: 'recording' | 'ended';
  startedAt: string;
  endedAt: string | null;
  durationSeconds: number;
  renditions: string[];
  segments: number;
  bytes: number;
  thumbnail: boolean;
}

export interface RecordingsOptions {
  /** The directory the recordings live in (made if missing). */
  dir: string;
  maxBytes: number;
  maxRecordings?: number;
  dvrSeconds?: number;
  logger: Logger;
  now?: () => number;
}

export interface RecordingsEvents {
  /** A recording ended and is complete on disk: the relay reports it to the orchestrator (recording.ready). */
  ready: [RecordingSummary];
  deleted: [recordingId: string, bytes: number];
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS recordings (
  id TEXT PRIMARY KEY,
  playback_id TEXT NOT NULL,
  started_ms INTEGER NOT NULL,
  ended_ms INTEGER,
  variants TEXT NOT NULL,
  target_duration INTEGER NOT NULL,
  thumbnail INTEGER NOT NULL DEFAULT 0,
  policy TEXT
);
CREATE TABLE IF NOT EXISTS recording_segments (
  recording_id TEXT NOT NULL,
  rendition TEXT NOT NULL,
  seq INTEGER NOT NULL,
  duration REAL NOT NULL,
  program_date_time TEXT NOT NULL,
  discontinuity INTEGER NOT NULL,
  signature TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  PRIMARY KEY (recording_id, rendition, seq)
);
CREATE TABLE IF NOT EXISTS recording_inits (
  recording_id TEXT NOT NULL,
  rendition TEXT NOT NULL,
  seq INTEGER NOT NULL,
  headers TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  PRIMARY KEY (recording_id, rendition, seq)
);
`;

const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
export { PLAYLIST_TYPE };

function insertSorted(list: RecordedSegment[], segment: RecordedSegment): void {
  // Pushes arrive in order almost always: the common case is an append.
  let i = list.length;
  while (i > 0 && list[i - 1]!.seq > segment.seq) i--;
  list.splice(i, 0, segment);
}

export class Recordings extends EventEmitter<RecordingsEvents> {
  private readonly o: Required<Omit<RecordingsOptions, 'now'>>;
  private readonly now: () => number;
  private readonly db: DatabaseSync;
  private readonly root: string;
  private readonly recordings = new Map<string, Recording>();
  /** The open recording of each playback id. */
  private readonly open = new Map<string, Recording>();
  private total = 0;
  private pending = 0;
  /** One writer: segment writes, ends and deletions happen in the order they were asked for. */
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(options: RecordingsOptions) {
    super();
    this.o = { maxRecordings: MAX_RECORDINGS, dvrSeconds: DVR_SECONDS, ...options };
    this.now = options.now ?? Date.now;
    this.root = resolve(options.dir);
    this.db = openDatabase(join(this.root, 'recordings.sqlite'), SCHEMA);
    addMissingColumns(this.db, 'recordings', [['policy', 'TEXT']]);
    addMissingColumns(this.db, 'recording_segments', [['init_seq', 'INTEGER']]);
    this.load();
  }

  /** Reads the index; recordings a previous run left open are ended at their last segment (a restart ends them). */
  private load(): void {
    const rows = this.db.prepare('SELECT * FROM recordings ORDER BY started_ms').all() as Array<{ id: string; playback_id: string; started_ms: number; ended_ms: number | null; variants: string; target_duration: number; thumbnail: number; policy: string | null }>;
    for (const r of rows) {
      const rec: Recording = { id: r.id, playbackId: r.playback_id, startedMs: r.started_ms, endedMs: r.ended_ms, variants: JSON.parse(r.variants) as Variant[], targetDuration: r.target_duration, bytes: 0, renditions: new Map(), timeline: new Map(), inits: new Map(), cache: new Map(), thumbnail: r.thumbnail === 1, policy: readPolicy(r.policy) };
      this.recordings.set(rec.id, rec);
    }
    const inits = this.db.prepare('SELECT * FROM recording_inits').all() as Array<{ recording_id: string; rendition: string; seq: number; headers: string; bytes: number }>;
    for (const i of inits) {
      const rec = this.recordings.get(i.recording_id);
      if (!rec) continue;
      this.initsOf(rec, i.rendition).set(i.seq, { bytes: i.bytes, headers: JSON.parse(i.headers) as Record<string, string> });
      rec.bytes += i.bytes;
      this.total += i.bytes;
    }
    const segs = this.db.prepare('SELECT * FROM recording_segments ORDER BY recording_id, rendition, seq').all() as Array<{ recording_id: string; rendition: string; seq: number; duration: number; program_date_time: string; discontinuity: number; signature: string; bytes: number; init_seq: number | null }>;
    for (const s of segs) {
      const rec = this.recordings.get(s.recording_id);
      if (!rec) continue;
      const segment: RecordedSegment = { seq: s.seq, duration: s.duration, programDateTime: s.program_date_time, discontinuity: s.discontinuity === 1, signature: s.signature, bytes: s.bytes, init: s.init_seq };
      let list = rec.renditions.get(s.rendition);
      if (!list) rec.renditions.set(s.rendition, (list = []));
      list.push(segment);
      if (!rec.timeline.has(segment.seq)) rec.timeline.set(segment.seq, segment);
      rec.bytes += segment.bytes;
      this.total += segment.bytes;
    }
    for (const rec of this.recordings.values()) {
      if (rec.endedMs !== null) continue;
      const last = [...rec.timeline.values()].reduce((m, s) => Math.max(m, Date.parse(s.programDateTime) + s.duration * 1_000), rec.startedMs);
      rec.endedMs = Math.round(last);
      this.db.prepare('UPDATE recordings SET ended_ms = ? WHERE id = ?').run(rec.endedMs, rec.id);
      this.o.logger.info({ recordingId: rec.id, playbackId: rec.playbackId }, 'recording left open by the previous run ended at its last segment');
    }
  }

  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.recordings.size;
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.queue.then(work).catch((err: unknown) => this.o.logger.error({ err }, 'recording write failed'));
    this.queue = next;
    return next;
  }

  /** Waits for every queued write, end and deletion (tests, and stop). */
  async idle(): Promise<void> {
    // Work queued by queued work (a deletion after a write) is waited for too; bounded by what is queued.
    for (let q = this.queue; ; q = this.queue) {
      await q;
      if (q === this.queue) return;
    }
  }

  /** The directory of a recording, refused unless it is inside the recordings directory (defence in depth: ids are checked already). */
  private dirOf(id: string): string {
    if (!idPattern.test(id)) throw new CastnetError('INVALID_PATH', 'invalid recording id');
    const dir = resolve(this.root, id);
    if (!dir.startsWith(this.root + sep)) throw new CastnetError('INVALID_PATH', 'invalid recording id');
    return dir;
  }

  private segmentPath(id: string, rendition: string, seq: number, cmaf: boolean): string {
    return this.fileOf(id, rendition, seq, cmaf ? `${seq}.m4s` : `${seq}.ts`);
  }

  private initPath(id: string, rendition: string, seq: number): string {
    return this.fileOf(id, rendition, seq, `init-${seq}.mp4`);
  }

  private fileOf(id: string, rendition: string, seq: number, name: string): string {
    if (!renditionNamePattern.test(rendition) || !Number.isSafeInteger(seq) || seq < 0) throw new CastnetError('INVALID_PATH', 'invalid rendition or sequence');
    return join(this.dirOf(id), rendition, name);
  }

  private initsOf(rec: Recording, rendition: string): Map<number, RecordedInit> {
    let m = rec.inits.get(rendition);
    if (!m) rec.inits.set(rendition, (m = new Map()));
    return m;
  }

  /**
   * Records a segment the store accepted. `variants`/`targetDuration`: the stream's descriptor now; `init`:
   * for a whole CMAF segment, the init segment it needs (recorded with the first segment that needs it).
   * Called on the push path: it queues the write and returns.
   */
  add(playbackId: string, rendition: string, segment: StoredSegment, variants: Variant[], targetDuration: number, policy: SignedPlaybackPolicy | null = null, init: RecordedInitInput | null = null): void {
    if (this.closed) return;
    let rec: Recording | null = this.open.get(playbackId) ?? null;
    if (!rec) {
      rec = this.create(playbackId, variants, targetDuration);
      if (!rec) return;
    }
    // The newest policy the publisher signed (push-routes checked its signer) is the recording's.
    if (policy && (!rec.policy || rec.policy.policy.issuedAt < policy.policy.issuedAt)) {
      rec.policy = policy;
      this.db.prepare('UPDATE recordings SET policy = ? WHERE id = ?').run(JSON.stringify(policy), rec.id);
    }
    if (variants.length > 0 && JSON.stringify(rec.variants) !== JSON.stringify(variants)) {
      rec.variants = variants;
      rec.targetDuration = Math.max(rec.targetDuration, targetDuration);
      this.db.prepare('UPDATE recordings SET variants = ?, target_duration = ? WHERE id = ?').run(JSON.stringify(variants), rec.targetDuration, rec.id);
    }
    if (this.pending >= MAX_PENDING_WRITES) {
      this.o.logger.warn({ recordingId: rec.id, playbackId, rendition, seq: segment.seq }, 'segment not recorded: the disk is behind by too many writes');
      return;
    }
    this.pending++;
    const target = rec;
    const recorded: RecordedSegment = { seq: segment.seq, duration: segment.duration, programDateTime: segment.programDateTime, discontinuity: segment.discontinuity, signature: segment.signature, bytes: segment.bytes.length, init: init?.seq ?? null };
    const bytes = segment.bytes;
    void this.enqueue(async () => {
      try {
        if (!this.recordings.has(target.id) || this.closed) return;
        const list = target.renditions.get(rendition);
        if (list?.some((s) => s.seq === recorded.seq)) return; // a repeat push: the first bytes stay
        const path = this.segmentPath(target.id, rendition, recorded.seq, recorded.init !== null);
        await mkdir(join(this.dirOf(target.id), rendition), { recursive: true });
        if (init && !target.inits.get(rendition)?.has(init.seq)) {
          await writeFile(this.initPath(target.id, rendition, init.seq), init.bytes);
          if (!this.recordings.has(target.id) || this.closed) return;
          this.db.prepare('INSERT OR REPLACE INTO recording_inits (recording_id, rendition, seq, headers, bytes) VALUES (?, ?, ?, ?, ?)').run(target.id, rendition, init.seq, JSON.stringify(init.headers), init.bytes.length);
          this.initsOf(target, rendition).set(init.seq, { bytes: init.bytes.length, headers: init.headers });
          target.bytes += init.bytes.length;
          this.total += init.bytes.length;
        }
        await writeFile(path, bytes);
        if (!this.recordings.has(target.id) || this.closed) return;
        this.db
          .prepare('INSERT OR REPLACE INTO recording_segments (recording_id, rendition, seq, duration, program_date_time, discontinuity, signature, bytes, init_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
          .run(target.id, rendition, recorded.seq, recorded.duration, recorded.programDateTime, recorded.discontinuity ? 1 : 0, recorded.signature, recorded.bytes, recorded.init);
        let segments = target.renditions.get(rendition);
        if (!segments) target.renditions.set(rendition, (segments = []));
        insertSorted(segments, recorded);
        if (!target.timeline.has(recorded.seq)) target.timeline.set(recorded.seq, recorded);
        target.targetDuration = Math.min(MAX_TARGET_DURATION_SECONDS, Math.max(target.targetDuration, Math.round(recorded.duration)));
        target.bytes += recorded.bytes;
        this.total += recorded.bytes;
        target.cache.clear();
        await this.evict(target);
      } finally {
        this.pending--;
      }
    });
  }

  private create(playbackId: string, variants: Variant[], targetDuration: number): Recording | null {
    if (this.recordings.size >= this.o.maxRecordings) {
      const oldest = [...this.recordings.values()].find((r) => r.endedMs !== null);
      if (!oldest) {
        this.o.logger.warn({ playbackId, maxRecordings: this.o.maxRecordings }, 'stream not recorded: every one of --max-recordings is still live');
        return null;
      }
      this.forget(oldest, `more than --max-recordings ${this.o.maxRecordings}`);
    }
    const startedMs = this.now();
    const id = `rec_${startedMs.toString(36)}_${randomBytes(6).toString('base64url')}`;
    const rec: Recording = { id, playbackId, startedMs, endedMs: null, variants, targetDuration: Math.max(1, Math.ceil(targetDuration)), bytes: 0, renditions: new Map(), timeline: new Map(), inits: new Map(), cache: new Map(), thumbnail: false, policy: null };
    this.db.prepare('INSERT INTO recordings (id, playback_id, started_ms, ended_ms, variants, target_duration) VALUES (?, ?, ?, NULL, ?, ?)').run(id, playbackId, startedMs, JSON.stringify(variants), rec.targetDuration);
    this.recordings.set(id, rec);
    this.open.set(playbackId, rec);
    this.o.logger.info({ recordingId: id, playbackId }, 'recording started');
    return rec;
  }

  /** Drops a recording from the index at once and its files in the queue. */
  private forget(rec: Recording, why: string): void {
    this.recordings.delete(rec.id);
    if (this.open.get(rec.playbackId) === rec) this.open.delete(rec.playbackId);
    this.total -= rec.bytes;
    this.db.prepare('DELETE FROM recording_segments WHERE recording_id = ?').run(rec.id);
    this.db.prepare('DELETE FROM recording_inits WHERE recording_id = ?').run(rec.id);
    this.db.prepare('DELETE FROM recordings WHERE id = ?').run(rec.id);
    this.o.logger.info({ recordingId: rec.id, playbackId: rec.playbackId, bytes: rec.bytes, reason: why }, `recording deleted (oldest first): ${why}`);
    this.emit('deleted', rec.id, rec.bytes);
    const dir = this.dirOf(rec.id);
    // Queued: a write already queued for it finds it gone and writes nothing after the removal.
    void this.enqueue(() => rm(dir, { recursive: true, force: true }));
  }

  /** Within --recording-bytes: the oldest ended recordings go whole; with only live ones left, their oldest segments. */
  private async evict(writing: Recording): Promise<void> {
    const why = `the recordings hold more than --recording-bytes ${this.o.maxBytes}`;
    while (this.total > this.o.maxBytes) {
      const ended = [...this.recordings.values()].find((r) => r.endedMs !== null && r !== writing);
      if (ended) {
        this.forget(ended, why);
        continue;
      }
      const oldest = [...this.recordings.values()][0]!;
      const freed = await this.trimOldest(oldest);
      if (freed === 0) break;
    }
  }

  /** Deletes the oldest sequence number of a recording (every rendition's segment of it); the bytes freed. */
  private async trimOldest(rec: Recording): Promise<number> {
    const seq = Math.min(...rec.timeline.keys());
    if (!Number.isFinite(seq)) return 0;
    let freed = 0;
    for (const [rendition, list] of rec.renditions) {
      const i = list.findIndex((s) => s.seq === seq);
      if (i < 0) continue;
      const gone = list[i]!;
      freed += gone.bytes;
      list.splice(i, 1);
      await rm(this.segmentPath(rec.id, rendition, seq, gone.init !== null), { force: true });
    }
    rec.timeline.delete(seq);
    rec.bytes -= freed;
    this.total -= freed;
    rec.cache.clear();
    this.db.prepare('DELETE FROM recording_segments WHERE recording_id = ? AND seq = ?').run(rec.id, seq);
    this.o.logger.info({ recordingId: rec.id, playbackId: rec.playbackId, seq, bytes: freed, reason: 'recording_bytes' }, `recording segment deleted (oldest first): the recordings hold more than --recording-bytes ${this.o.maxBytes} and only live recordings are left`);
    return freed;
  }

  /** The stream ended (or expired): its recording is complete once its queued writes are done; `ready` follows. */
  end(playbackId: string): void {
    const rec = this.open.get(playbackId);
    if (!rec) return;
    this.open.delete(playbackId);
    void this.enqueue(async () => {
      if (!this.recordings.has(rec.id)) return;
      rec.endedMs = this.now();
      rec.cache.clear();
      this.db.prepare('UPDATE recordings SET ended_ms = ? WHERE id = ?').run(rec.endedMs, rec.id);
      const summary = this.summary(rec);
      this.o.logger.info({ recordingId: rec.id, playbackId, durationSeconds: summary.durationSeconds, bytes: rec.bytes, segments: summary.segments }, 'recording ready');
      this.emit('ready', summary);
    });
  }

  /** Keeps the stream's newest thumbnail with its open recording (VOD poster). */
  setThumbnail(playbackId: string, jpeg: Buffer): void {
    const rec = this.open.get(playbackId);
    if (!rec || jpeg.length > THUMBNAIL_MAX_BYTES) return;
    void this.enqueue(async () => {
      if (!this.recordings.has(rec.id)) return;
      await mkdir(this.dirOf(rec.id), { recursive: true });
      await writeFile(join(this.dirOf(rec.id), 'thumbnail.jpg'), jpeg);
      if (!rec.thumbnail) this.db.prepare('UPDATE recordings SET thumbnail = 1 WHERE id = ?').run(rec.id);
      rec.thumbnail = true;
    });
  }

  private rank(rec: Recording, rendition: string): number {
    const i = rec.variants.findIndex((v) => v.name === rendition);
    return i < 0 ? rec.variants.length : i;
  }

  private summary(rec: Recording): RecordingSummary {
    let duration = 0;
    for (const s of rec.timeline.values()) duration += s.duration;
    let segments = 0;
    for (const list of rec.renditions.values()) segments += list.length;
    return {
      recordingId: rec.id,
      playbackId: rec.playbackId,
      state: rec.endedMs === null ? 'recording' : 'ended',
      startedAt: new Date(rec.startedMs).toISOString(),
      endedAt: rec.endedMs === null ? null : new Date(rec.endedMs).toISOString(),
      durationSeconds: Math.round(duration * 1000) / 1000,
      // In the ladder's order (the descriptor's), whatever order they arrived or were read back in.
      renditions: [...rec.renditions.keys()].sort((a, b) => this.rank(rec, a) - this.rank(rec, b) || a.localeCompare(b)),
      segments,
      bytes: rec.bytes,
      thumbnail: rec.thumbnail,
    };
  }

  /** Newest first; `playbackId`: that stream's only. */
  list(playbackId?: string): RecordingSummary[] {
    return [...this.recordings.values()].filter((r) => playbackId === undefined || r.playbackId === playbackId).reverse().map((r) => this.summary(r));
  }

  get(recordingId: string): RecordingSummary {
    return this.summary(this.recording(recordingId));
  }

  private recording(recordingId: string): Recording {
    const rec = idPattern.test(recordingId) ? this.recordings.get(recordingId) : undefined;
    if (!rec) throw new CastnetError('NOT_FOUND', 'no recording with this id on this relay (never recorded here, or deleted to stay within --recording-bytes)', { recordingId, reason: 'recording_unknown' });
    return rec;
  }

  /** Whose recording it is and the playback policy it was made under: what a viewer must satisfy. */
  access(recordingId: string): { playbackId: string; policy: SignedPlaybackPolicy | null } {
    const rec = this.recording(recordingId);
    return { playbackId: rec.playbackId, policy: rec.policy };
  }

  /** The policy of a stream's newest recording (its rewind window's). */
  accessOfStream(playbackId: string): { playbackId: string; policy: SignedPlaybackPolicy | null } {
    const rec = this.newestOf(playbackId);
    return { playbackId, policy: rec.policy };
  }

  /** The newest recording of a stream (live or ended), for its rewind window. */
  private newestOf(playbackId: string): Recording {
    const rec = this.open.get(playbackId) ?? [...this.recordings.values()].reverse().find((r) => r.playbackId === playbackId);
    if (!rec || rec.timeline.size === 0) throw new CastnetError('STREAM_NOT_FOUND', 'no recording of this stream on this relay to rewind over', { playbackId, reason: 'no_recording' });
    return rec;
  }

  private variantsOf(rec: Recording): Array<Variant & { averageBandwidth?: number }> {
    const variants: Variant[] = [];
    for (const v of rec.variants) {
      const list = rec.renditions.get(v.name);
      if (!list || list.length === 0) continue;
      let peak = 0;
      for (const s of list) if (s.duration > 0) peak = Math.max(peak, Math.round((s.bytes * 8) / s.duration));
      variants.push({ ...v, bandwidth: Math.min(VARIANT_LIMITS.maxBandwidth, Math.max(v.bandwidth, peak)) });
    }
    return variants;
  }

  private masterOf(rec: Recording, what: string): Buffer {
    const key = 'master';
    let body = rec.cache.get(key);
    if (!body) {
      const variants = this.variantsOf(rec);
      if (variants.length === 0) throw new CastnetError('NOT_FOUND', `the ${what} has no segments`, { recordingId: rec.id, reason: 'recording_empty' });
      body = Buffer.from(writeMultivariantPlaylist(variants));
      rec.cache.set(key, body);
    }
    return body;
  }

  /** The recording's multivariant playlist. */
  vodMaster(recordingId: string): Buffer {
    return this.masterOf(this.recording(recordingId), 'recording');
  }

  /** The rewind window's multivariant playlist: the stream's newest recording. */
  dvrMaster(playbackId: string): Buffer {
    return this.masterOf(this.newestOf(playbackId), 'stream\'s recording');
  }

  private entries(rec: Recording, rendition: string, fromSeq: number): PlaylistEntry[] {
    const list = rec.renditions.get(rendition);
    if (!list || list.length === 0) throw new CastnetError('NOT_FOUND', `rendition ${rendition} is not in this recording`, { recordingId: rec.id, rendition, reason: 'rendition_unknown' });
    const have = new Map(list.map((s) => [s.seq, s]));
    const first = list[0]!.seq;
    const last = list[list.length - 1]!.seq;
    // A CMAF rendition's gap keeps the init of the segment before it (its URI is never fetched).
    let init: number | null = list[0]!.init;
    return [...rec.timeline.keys()]
      .filter((seq) => seq >= Math.max(first, fromSeq) && seq <= last)
      .sort((a, b) => a - b)
      .map((seq) => {
        const s = rec.timeline.get(seq)!;
        const own = have.get(seq);
        if (own) init = own.init;
        return { seq, duration: s.duration, programDateTime: s.programDateTime, discontinuity: s.discontinuity, gap: !own, ...(init !== null ? { init } : {}) };
      });
  }

  /** The recording's media playlist: VOD, ENDLIST once ended (a recording still being made lists what it has, without). */
  vodMedia(recordingId: string, rendition: string): Buffer {
    const rec = this.recording(recordingId);
    const key = `vod:${rendition}`;
    let body = rec.cache.get(key);
    if (!body) {
      const entries = this.entries(rec, rendition, 0);
      // Segments live at /vod/<recordingId>/hls/<playbackId>/<rendition>/<seq>.ts: the signed names (playback id,
      // rendition, seq) stay in the URL, so the player's verifier checks a recording as it checks live.
      const prefix = `/vod/${rec.id}/hls/${rec.playbackId}/${rendition}/`;
      body = Buffer.from(
        rec.endedMs === null
          ? writeMediaPlaylist({ targetDuration: rec.targetDuration, discontinuitySequence: 0, entries, ended: false, uriPrefix: prefix })
          : writeMediaPlaylist({ targetDuration: rec.targetDuration, discontinuitySequence: 0, entries, ended: true, playlistType: 'VOD', uriPrefix: prefix }),
      );
      rec.cache.set(key, body);
    }
    return body;
  }

  /**
   * The rewind window of a stream: a live media playlist (no ENDLIST while live) of the newest --dvr-seconds
   * of its recording, so a player's seekable range covers them and its live edge is the recording's newest.
   */
  dvrMedia(playbackId: string, rendition: string): Buffer {
    const rec = this.newestOf(playbackId);
    const key = `dvr:${rendition}`;
    let body = rec.cache.get(key);
    if (!body) {
      const all = this.entries(rec, rendition, 0);
      let seconds = 0;
      let start = all.length;
      while (start > 0 && seconds + all[start - 1]!.duration <= this.o.dvrSeconds + 1e-9) seconds += all[--start]!.duration;
      if (start === all.length && all.length > 0) start--; // at least the newest segment
      const listed = all.slice(start);
      const firstSeq = listed[0]?.seq ?? 0;
      let discontinuities = 0;
      for (const [seq, s] of rec.timeline) if (seq < firstSeq && s.discontinuity) discontinuities++;
      body = Buffer.from(writeMediaPlaylist({ targetDuration: rec.targetDuration, discontinuitySequence: discontinuities, entries: listed, ended: rec.endedMs !== null, uriPrefix: `/vod/${rec.id}/hls/${rec.playbackId}/${rendition}/` }));
      rec.cache.set(key, body);
    }
    return body;
  }

  /**
   * A recorded segment's bytes and the signature headers it was pushed with, read from disk. `cmaf`: asked
   * as `<seq>.m4s` (a CMAF segment) rather than `<seq>.ts`; the other kind is not found.
   */
  async segment(recordingId: string, playbackId: string, rendition: string, seq: number, cmaf = false): Promise<{ bytes: Buffer; headers: Record<string, string>; etag: string }> {
    const rec = this.ofStream(recordingId, playbackId);
    const s = rec.renditions.get(rendition)?.find((x) => x.seq === seq);
    if (!s || (s.init !== null) !== cmaf) throw new CastnetError('SEGMENT_NOT_FOUND', `no segment ${seq}.${cmaf ? 'm4s' : 'ts'} of ${rendition} in this recording`, { recordingId, rendition, seq });
    const bytes = await this.readRecorded(this.segmentPath(rec.id, rendition, seq, cmaf), `segment ${seq} of ${rendition}`, { recordingId, rendition, seq });
    return { bytes, headers: signedSegmentHeaders({ duration: s.duration, programDateTime: s.programDateTime, discontinuity: s.discontinuity, signature: s.signature }), etag: `"${rec.id}.${rendition}.${seq}.${s.bytes}"` };
  }

  /** A recorded init segment (`init-<seq>.mp4`) and the publisher's init signature headers it was pushed with. */
  async initSegment(recordingId: string, playbackId: string, rendition: string, seq: number): Promise<{ bytes: Buffer; headers: Record<string, string>; etag: string }> {
    const rec = this.ofStream(recordingId, playbackId);
    const init = rec.inits.get(rendition)?.get(seq);
    if (!init) throw new CastnetError('SEGMENT_NOT_FOUND', `no init segment ${seq} of ${rendition} in this recording`, { recordingId, rendition, seq });
    const bytes = await this.readRecorded(this.initPath(rec.id, rendition, seq), `init segment ${seq} of ${rendition}`, { recordingId, rendition, seq });
    return { bytes, headers: init.headers, etag: `"${rec.id}.${rendition}.init.${seq}.${init.bytes}"` };
  }

  private ofStream(recordingId: string, playbackId: string): Recording {
    const rec = this.recording(recordingId);
    if (rec.playbackId !== playbackId) throw new CastnetError('NOT_FOUND', 'this recording is of another stream', { recordingId, playbackId, reason: 'recording_unknown' });
    return rec;
  }

  private readRecorded(path: string, what: string, context: { recordingId: string; rendition: string; seq: number }): Promise<Buffer> {
    return readFile(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new CastnetError('SEGMENT_NOT_FOUND', `${what} was deleted`, context);
      throw err;
    });
  }

  /** The recording's thumbnail (the stream's newest while it was recorded). */
  async thumbnail(recordingId: string): Promise<Buffer> {
    const rec = this.recording(recordingId);
    if (!rec.thumbnail) throw new CastnetError('NOT_FOUND', 'this recording has no thumbnail (none was made while it was recorded)', { recordingId, reason: 'no_thumbnail' });
    return readFile(join(this.dirOf(rec.id), 'thumbnail.jpg'));
  }

  /** Ends nothing (a restart ends open recordings on load): waits for the queue, then closes the index. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.idle();
    this.closed = true;
    await this.idle();
    this.db.close();
  }
}

/** A stored policy; one that no longer parses is treated as signed with no keys (nothing plays), never as public. */
function readPolicy(text: string | null): SignedPlaybackPolicy | null {
  if (text === null) return null;
  try {
    return signedPlaybackPolicySchema.parse(JSON.parse(text));
  } catch {
    return { policy: { playbackId: 'unreadable', mode: 'signed', keys: [], issuedAt: 0 }, signature: `0x${'0'.repeat(130)}` };
  }
}
