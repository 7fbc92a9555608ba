// Fragmented MP4 (ISO BMFF, CMAF) as FFmpeg writes it with `-movflags empty_moov+default_base_moof+frag_keyframe`:
// the init segment (ftyp + moov) and its tracks' timescales, a streaming splitter that turns a pipe of bytes
// into whole fragments (moof + mdat), and each fragment's timing (start, duration of its video track, or
// audio when there is none) and whether it starts with a sync sample. Bounded: it reads bytes from FFmpeg and,
// at relays, from other nodes (box sizes, counts and nesting are limited; anything malformed throws).
// Hot path: once per part (a few per second per stream), no copying of media data beyond one concat per fragment.

import { CastnetError } from '../protocol/errors.ts';
import { ByteQueue } from '../protocol/byte-queue.ts';

/** Largest top-level box accepted (a fragment of a 0.5 s part of a high-bitrate source is a few MB). */
export const MAX_BOX_BYTES = 32 * 1024 * 1024;
/** Boxes read inside one container. */
const MAX_CHILDREN = 256;

export interface Fmp4Track {
  id: number;
  kind: 'video' | 'audio' | 'other';
  timescale: number;
  /** trex defaults, used where a fragment does not say. */
  defaultDuration: number;
  defaultFlags: number;
}

export interface FragmentTiming {
  /** Seconds on the media timeline (tfdt of the timing track over its timescale). */
  start: number;
  duration: number;
  /** The first sample of the video track is a sync sample (a keyframe): decodable on its own. */
  independent: boolean;
  /** Samples of the timing track (video frames, when there is video). */
  samples: number;
}

function bad(message: string): never {
  throw new CastnetError('INVALID_SEGMENT', `fragmented MP4: ${message}`);
}

interface Box {
  type: string;
  /** Offset of the payload within the buffer, and its end. */
  start: number;
  end: number;
}

function readBoxes(buf: Uint8Array, from: number, to: number): Box[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const boxes: Box[] = [];
  let at = from;
  while (at < to) {
    if (to - at < 8) bad('truncated box header');
    let size = view.getUint32(at);
    const type = String.fromCharCode(buf[at + 4]!, buf[at + 5]!, buf[at + 6]!, buf[at + 7]!);
    let header = 8;
    if (size === 1) {
      if (to - at < 16) bad('truncated large box header');
      const big = view.getBigUint64(at + 8);
      if (big > BigInt(MAX_BOX_BYTES)) bad(`box ${type} too large`);
      size = Number(big);
      header = 16;
    } else if (size === 0) {
      size = to - at;
    }
    if (size < header || at + size > to) bad(`box ${JSON.stringify(type)} overruns its container`);
    boxes.push({ type, start: at + header, end: at + size });
    if (boxes.length > MAX_CHILDREN) bad('too many boxes');
    at += size;
  }
  return boxes;
}

function child(buf: Uint8Array, parent: Box, type: string): Box | undefined {
  return readBoxes(buf, parent.start, parent.end).find((b) => b.type === type);
}

function children(buf: Uint8Array, parent: Box, type: string): Box[] {
  return readBoxes(buf, parent.start, parent.end).filter((b) => b.type === type);
}

function need(box: Box, bytes: number): void {
  if (box.end - box.start < bytes) bad('box too short for its fields');
}

/** The tracks of an init segment (ftyp + moov). */
export function parseInit(init: Uint8Array): Fmp4Track[] {
  const view = new DataView(init.buffer, init.byteOffset, init.byteLength);
  const top = readBoxes(init, 0, init.length);
  const moov = top.find((b) => b.type === 'moov') ?? bad('no moov box in the init segment');
  const tracks: Fmp4Track[] = [];
  const defaults = new Map<number, { duration: number; flags: number }>();
  const mvex = child(init, moov, 'mvex');
  if (mvex) {
    for (const trex of children(init, mvex, 'trex')) {
      need(trex, 24);
      defaults.set(view.getUint32(trex.start + 4), { duration: view.getUint32(trex.start + 12), flags: view.getUint32(trex.start + 20) });
    }
  }
  for (const trak of children(init, moov, 'trak')) {
    const tkhd = child(init, trak, 'tkhd') ?? bad('trak without tkhd');
    need(tkhd, 24);
    const id = view.getUint32(tkhd.start + (init[tkhd.start] === 1 ? 20 : 12));
    const mdia = child(init, trak, 'mdia') ?? bad('trak without mdia');
    const mdhd = child(init, mdia, 'mdhd') ?? bad('mdia without mdhd');
    need(mdhd, 24);
    const timescale = view.getUint32(mdhd.start + (init[mdhd.start] === 1 ? 20 : 12));
    if (timescale === 0) bad('zero timescale');
    const hdlr = child(init, mdia, 'hdlr') ?? bad('mdia without hdlr');
    need(hdlr, 12);
    const handler = String.fromCharCode(...init.subarray(hdlr.start + 8, hdlr.start + 12));
    const d = defaults.get(id) ?? { duration: 0, flags: 0 };
    tracks.push({ id, kind: handler === 'vide' ? 'video' : handler === 'soun' ? 'audio' : 'other', timescale, defaultDuration: d.duration, defaultFlags: d.flags });
  }
  if (tracks.length === 0) bad('no tracks in the init segment');
  return tracks;
}

const NON_SYNC = 0x10000;

/**
 * Timing of one fragment (moof + mdat, or several in a row: a part may carry an audio-only fragment before
 * its first video one) against its init segment's tracks; null when no moof holds samples of the timing track.
 */
export function fragmentTimingOrNull(fragment: Uint8Array, tracks: readonly Fmp4Track[]): FragmentTiming | null {
  const view = new DataView(fragment.buffer, fragment.byteOffset, fragment.byteLength);
  const top = readBoxes(fragment, 0, fragment.length);
  const moofs = top.filter((b) => b.type === 'moof');
  if (moofs.length === 0) bad('no moof box in the fragment');
  if (!top.some((b) => b.type === 'mdat')) bad('no mdat box in the fragment');
  const timing = tracks.find((t) => t.kind === 'video') ?? tracks.find((t) => t.kind === 'audio') ?? tracks[0]!;
  let result: FragmentTiming | null = null;
  for (const moof of moofs) for (const traf of children(fragment, moof, 'traf')) {
    const tfhd = child(fragment, traf, 'tfhd') ?? bad('traf without tfhd');
    need(tfhd, 8);
    const tfhdFlags = view.getUint32(tfhd.start) & 0xffffff;
    const trackId = view.getUint32(tfhd.start + 4);
    if (trackId !== timing.id) continue;
    let at = tfhd.start + 8;
    if (tfhdFlags & 0x1) at += 8; // base data offset
    if (tfhdFlags & 0x2) at += 4; // sample description index
    let defaultDuration = timing.defaultDuration;
    let defaultFlags = timing.defaultFlags;
    if (tfhdFlags & 0x8) { if (at + 4 > tfhd.end) bad('tfhd too short'); defaultDuration = view.getUint32(at); at += 4; }
    if (tfhdFlags & 0x10) at += 4; // default sample size
    if (tfhdFlags & 0x20) { if (at + 4 > tfhd.end) bad('tfhd too short'); defaultFlags = view.getUint32(at); }
    const tfdt = child(fragment, traf, 'tfdt') ?? bad('traf without tfdt');
    need(tfdt, 8);
    const base = fragment[tfdt.start] === 1 ? (need(tfdt, 12), Number(view.getBigUint64(tfdt.start + 4))) : view.getUint32(tfdt.start + 4);
    let duration = 0;
    let samples = 0;
    let firstFlags: number | null = null;
    for (const trun of children(fragment, traf, 'trun')) {
      need(trun, 8);
      const flags = view.getUint32(trun.start) & 0xffffff;
      const count = view.getUint32(trun.start + 4);
      let p = trun.start + 8;
      if (flags & 0x1) p += 4; // data offset
      let first: number | null = null;
      if (flags & 0x4) { need(trun, p - trun.start + 4); first = view.getUint32(p); p += 4; }
      const per = ((flags & 0x100) ? 4 : 0) + ((flags & 0x200) ? 4 : 0) + ((flags & 0x400) ? 4 : 0) + ((flags & 0x800) ? 4 : 0);
      if (per > 0 ? count * per > trun.end - p : count > 100_000) bad('trun sample count overruns the box');
      for (let i = 0; i < count; i++) {
        let d = defaultDuration;
        let f = defaultFlags;
        if (flags & 0x100) { d = view.getUint32(p); p += 4; }
        if (flags & 0x200) p += 4;
        if (flags & 0x400) { f = view.getUint32(p); p += 4; }
        if (flags & 0x800) p += 4;
        if (i === 0 && firstFlags === null) firstFlags = first ?? f;
        duration += d;
        samples++;
      }
    }
    if (samples === 0) continue;
    if (!result) result = { start: base / timing.timescale, duration: duration / timing.timescale, independent: firstFlags !== null && (firstFlags & NON_SYNC) === 0, samples };
    else {
      result.duration += duration / timing.timescale;
      result.samples += samples;
    }
  }
  return result;
}

/** Timing of one fragment (moof + mdat) against its init segment's tracks; throws when it has no samples of the timing track. */
export function fragmentTiming(fragment: Uint8Array, tracks: readonly Fmp4Track[]): FragmentTiming {
  const timing = fragmentTimingOrNull(fragment, tracks);
  if (timing) return timing;
  const track = tracks.find((t) => t.kind === 'video') ?? tracks.find((t) => t.kind === 'audio') ?? tracks[0]!;
  return bad(`the fragment has no samples of track ${track.id}`);
}

/**
 * Splits a byte stream into the init segment and whole fragments, as FFmpeg writes them to a pipe. Boxes
 * other than ftyp/moov/moof/mdat (sidx, mfra at the end) are dropped.
 */
export class Fmp4Splitter {
  private readonly pending = new ByteQueue();
  private initParts: Buffer[] = [];
  private moof: Buffer | null = null;
  init: Buffer | null = null;

  private readonly handlers: { init: (init: Buffer) => void; fragment: (fragment: Buffer) => void };

  constructor(handlers: { init: (init: Buffer) => void; fragment: (fragment: Buffer) => void }) {
    this.handlers = handlers;
  }

  push(chunk: Buffer): void {
    this.pending.push(chunk);
    for (;;) {
      if (this.pending.length < 8) return;
      const head = this.pending.peek(16);
      let size = head.readUInt32BE(0);
      const type = head.toString('latin1', 4, 8);
      if (size === 1) {
        if (head.length < 16) return;
        const big = head.readBigUInt64BE(8);
        if (big > BigInt(MAX_BOX_BYTES)) bad(`box ${type} too large`);
        size = Number(big);
      }
      if (size < 8 || size > MAX_BOX_BYTES) bad(`box ${JSON.stringify(type)} of ${size} bytes`);
      if (this.pending.length < size) return;
      this.box(type, this.pending.take(size));
    }
  }

  private box(type: string, bytes: Buffer): void {
    if (type === 'ftyp') this.initParts = [bytes];
    else if (type === 'moov') {
      this.init = Buffer.concat([...this.initParts, bytes]);
      this.initParts = [];
      this.handlers.init(this.init);
    } else if (type === 'moof') this.moof = bytes;
    else if (type === 'mdat') {
      if (!this.moof || !this.init) bad('mdat before its moof or the init segment');
      const fragment = Buffer.concat([this.moof, bytes]);
      this.moof = null;
      this.handlers.fragment(fragment);
    }
  }
}

/** Refuses bytes that are not whole fragments (moof + mdat) of the given init segment; returns the timing. */
export function assertFragment(bytes: Uint8Array, init: Uint8Array, context: Record<string, unknown>): FragmentTiming {
  try {
    return fragmentTiming(bytes, parseInit(init));
  } catch (err) {
    throw new CastnetError('INVALID_SEGMENT', err instanceof Error ? err.message : String(err), context);
  }
}

/** Each track's decode start (tfdt) in one fragment, in seconds, by track id. */
export function trackStarts(fragment: Uint8Array, tracks: readonly Fmp4Track[]): Map<number, number> {
  const starts = new Map<number, number>();
  for (const { trackId, tfdt } of tfdts(fragment)) {
    const track = tracks.find((t) => t.id === trackId);
    if (track && !starts.has(trackId)) starts.set(trackId, readTfdt(fragment, tfdt) / track.timescale);
  }
  return starts;
}

/**
 * Moves a fragment on its tracks' timelines, in place: `offsetSeconds` is added to every traf's decode
 * time (tfdt), rounded to each track's timescale. A version-0 tfdt (32 bits) that would overflow is refused
 * (FFmpeg writes version 1, 64 bits, so this is another muxer's output: about a day of 48 kHz audio).
 */
export function rebaseFragment(fragment: Buffer, tracks: readonly Fmp4Track[], offsetSeconds: number): void {
  for (const { trackId, tfdt } of tfdts(fragment)) {
    const track = tracks.find((t) => t.id === trackId) ?? bad(`a traf of track ${trackId}, not in the init segment`);
    writeTfdt(fragment, tfdt, trackId, readTfdt(fragment, tfdt) + Math.round(offsetSeconds * track.timescale));
  }
}

/** Sets a traf's decode time; refused when it is negative, unsafe, or too large for a version-0 (32-bit) tfdt. */
function writeTfdt(fragment: Buffer, tfdt: Box, trackId: number, moved: number): void {
  const view = new DataView(fragment.buffer, fragment.byteOffset, fragment.byteLength);
  if (moved < 0 || !Number.isSafeInteger(moved)) bad(`track ${trackId} moved to decode time ${moved}`);
  if (fragment[tfdt.start] === 1) view.setBigUint64(tfdt.start + 4, BigInt(moved));
  else if (moved > 0xffffffff) bad(`track ${trackId}: a 32-bit tfdt cannot hold decode time ${moved}`);
  else view.setUint32(tfdt.start + 4, moved);
}

/**
 * Undoes FFmpeg's stretched first sample, in place: the mp4 muxer starts every track at decode time 0 and,
 * for a track whose first sample came later (audio behind a B-frame video's shift), lengthens that first
 * sample to cover the difference (measured: an AAC frame of 5000 ticks at 48 kHz instead of 1024, 104 ms
 * instead of 21). Segments encoded apart then overlap and leave holes in the audio at every segment start,
 * where Chromium stalls. For each track not in `seen` (its first fragment), a first sample longer than the
 * second (an audio track of `tracks`; 1.5× the second for others) is cut to the second's length and moved
 * later by the difference; `seen` gets the track.
 */
export function unstretchFirstSample(fragment: Buffer, seen: Set<number>, tracks: readonly Fmp4Track[] = []): void {
  const view = new DataView(fragment.buffer, fragment.byteOffset, fragment.byteLength);
  for (const moof of readBoxes(fragment, 0, fragment.length).filter((b) => b.type === 'moof')) {
    for (const traf of children(fragment, moof, 'traf')) {
      const tfhd = child(fragment, traf, 'tfhd') ?? bad('traf without tfhd');
      need(tfhd, 8);
      const trackId = view.getUint32(tfhd.start + 4);
      if (seen.has(trackId)) continue;
      seen.add(trackId);
      const trun = child(fragment, traf, 'trun');
      const tfdt = child(fragment, traf, 'tfdt');
      if (!trun || !tfdt) continue;
      need(trun, 8);
      const flags = view.getUint32(trun.start) & 0xffffff;
      if (!(flags & 0x100) || view.getUint32(trun.start + 4) < 2) continue;
      let at = trun.start + 8 + (flags & 0x1 ? 4 : 0) + (flags & 0x4 ? 4 : 0);
      const per = 4 + (flags & 0x200 ? 4 : 0) + (flags & 0x400 ? 4 : 0) + (flags & 0x800 ? 4 : 0);
      if (at + 2 * per > trun.end) bad('trun too short for its samples');
      const first = view.getUint32(at);
      const second = view.getUint32(at + per);
      // Audio frames are all one length (1024 samples for AAC), so any longer first one was stretched, even by
      // a few ms; a video frame may be longer than the next (variable rate), so only a clear stretch counts.
      const audio = tracks.find((t) => t.id === trackId)?.kind === 'audio';
      if (second === 0 || first <= (audio ? second : second * 1.5)) continue;
      view.setUint32(at, second);
      writeTfdt(fragment, tfdt, trackId, readTfdt(fragment, tfdt) + (first - second));
    }
  }
}

function readTfdt(fragment: Uint8Array, tfdt: Box): number {
  const view = new DataView(fragment.buffer, fragment.byteOffset, fragment.byteLength);
  need(tfdt, 8);
  if (fragment[tfdt.start] !== 1) return view.getUint32(tfdt.start + 4);
  need(tfdt, 12);
  const big = view.getBigUint64(tfdt.start + 4);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) bad('tfdt beyond 2^53');
  return Number(big);
}

function tfdts(fragment: Uint8Array): Array<{ trackId: number; tfdt: Box }> {
  const view = new DataView(fragment.buffer, fragment.byteOffset, fragment.byteLength);
  const found: Array<{ trackId: number; tfdt: Box }> = [];
  for (const moof of readBoxes(fragment, 0, fragment.length).filter((b) => b.type === 'moof')) {
    for (const traf of children(fragment, moof, 'traf')) {
      const tfhd = child(fragment, traf, 'tfhd') ?? bad('traf without tfhd');
      need(tfhd, 8);
      found.push({ trackId: view.getUint32(tfhd.start + 4), tfdt: child(fragment, traf, 'tfdt') ?? bad('traf without tfdt') });
    }
  }
  return found;
}

/** The video track's width and height as its tkhd gives them (16.16 fixed point, whole pixels); null without video. */
export function initVideoSize(init: Uint8Array): { width: number; height: number } | null {
  const view = new DataView(init.buffer, init.byteOffset, init.byteLength);
  const moov = readBoxes(init, 0, init.length).find((b) => b.type === 'moov') ?? bad('no moov box in the init segment');
  for (const trak of children(init, moov, 'trak')) {
    const mdia = child(init, trak, 'mdia');
    const hdlr = mdia && child(init, mdia, 'hdlr');
    if (!hdlr || hdlr.end - hdlr.start < 12 || String.fromCharCode(...init.subarray(hdlr.start + 8, hdlr.start + 12)) !== 'vide') continue;
    const tkhd = child(init, trak, 'tkhd') ?? bad('trak without tkhd');
    need(tkhd, 84);
    return { width: view.getUint32(tkhd.end - 8) >>> 16, height: view.getUint32(tkhd.end - 4) >>> 16 };
  }
  return null;
}

/** Sample entry header bytes before its child boxes (ISO/IEC 14496-12 §8.5.2, §12.1.3, §12.2.3). */
const SAMPLE_ENTRY_HEADER: Record<string, number> = { avc1: 78, avc3: 78, hvc1: 78, hev1: 78, mp4a: 28 };

/**
 * What decoding an init segment depends on: its bytes with the bitrate fields zeroed (btrt, and the esds
 * DecoderConfigDescriptor's buffer size and bitrates). FFmpeg fills those from estimates that differ from
 * one process to the next while everything a decoder reads (tracks, timescales, SPS/PPS, AudioSpecificConfig)
 * stays the same, so two encodes with the same settings give inits that differ only there. Two inits with
 * the same identity can play each other's fragments.
 */
export function initIdentity(init: Buffer): Buffer {
  try {
    return maskedInit(init);
  } catch {
    // Not a parseable init segment: only the same bytes are the same init.
    return Buffer.from(init);
  }
}

function maskedInit(init: Buffer): Buffer {
  const copy = Buffer.from(init);
  const moov = readBoxes(copy, 0, copy.length).find((b) => b.type === 'moov');
  if (!moov) return copy;
  const path = (parent: Box, ...types: string[]): Box | undefined => types.reduce<Box | undefined>((b, t) => (b ? child(copy, b, t) : undefined), parent);
  for (const trak of children(copy, moov, 'trak')) {
    const stsd = path(trak, 'mdia', 'minf', 'stbl', 'stsd');
    if (!stsd || stsd.end - stsd.start < 8) continue;
    for (const entry of readBoxes(copy, stsd.start + 8, stsd.end)) {
      const header = SAMPLE_ENTRY_HEADER[entry.type];
      if (header === undefined || entry.end - entry.start < header) continue;
      for (const box of readBoxes(copy, entry.start + header, entry.end)) {
        if (box.type === 'btrt' && box.end - box.start >= 12) copy.fill(0, box.start, box.start + 12);
        if (box.type === 'esds') zeroEsdsBitrates(copy, box);
      }
    }
  }
  return copy;
}

/** Reads an MPEG-4 descriptor header (tag, then a length of up to four 7-bit bytes); null past `end`. */
function descriptor(buf: Uint8Array, at: number, end: number): { tag: number; body: number; end: number } | null {
  if (at + 2 > end) return null;
  const tag = buf[at]!;
  let length = 0;
  let p = at + 1;
  for (let i = 0; i < 4 && p < end; i++) {
    const b = buf[p++]!;
    length = (length << 7) | (b & 0x7f);
    if ((b & 0x80) === 0) break;
  }
  return p + length <= end ? { tag, body: p, end: p + length } : null;
}

function zeroEsdsBitrates(buf: Buffer, esds: Box): void {
  const es = descriptor(buf, esds.start + 4, esds.end);
  if (!es || es.tag !== 0x03 || es.body + 3 > es.end) return;
  const flags = buf[es.body + 2]!;
  let p = es.body + 3;
  if (flags & 0x80) p += 2; // streamDependenceFlag: dependsOn_ES_ID
  if (flags & 0x40) p += 1 + (buf[p] ?? 0); // URL_Flag: URLlength, URLstring
  if (flags & 0x20) p += 2; // OCRstreamFlag: OCR_ES_Id
  const config = descriptor(buf, p, es.end);
  if (!config || config.tag !== 0x04 || config.body + 13 > config.end) return;
  buf.fill(0, config.body + 2, config.body + 13); // bufferSizeDB (3), maxBitrate (4), avgBitrate (4)
}
