// The player's check of every segment before it plays (protocol/content-signature.ts): the publisher's
// signature, carried by the relay as response headers, over the segment's playback id, rendition and
// sequence number (read from its URL), duration, program date time, discontinuity and the SHA-256 of the
// bytes as received; and the playlist's claims about the segment (sequence, EXTINF, PROGRAM-DATE-TIME)
// agree with what was signed. The publisher key is the one the orchestrator's directory binds to the
// playback id (the `directory` attribute), or the one an embedder gives (`publisher`); with neither, the
// first signer binds the stream and the player says that its key is unchecked. Low-latency (CMAF) streams:
// whole segments (`<seq>.m4s`) as above; parts (`<seq>.<part>.m4s`, hls.js's ctx.part) against the part
// signature (protocol/part-signature.ts) over index, duration and INDEPENDENT, which must agree with the
// playlist's EXT-X-PART; init segments (`init-<seq>.mp4`, frag.sn 'initSegment') against the init signature.
// This file runs in the browser. Hot path: every segment and part.

import { sha256 as jsSha256 } from '@noble/hashes/sha2.js';
import { checkSegmentSignature, segmentSigner, CONTENT_SIGNATURE_HEADER, type SegmentClaim } from '../protocol/content-signature.ts';
import { checkInitSignature, checkPartSignature, initSigner, partSigner, PART_HEADERS } from '../protocol/part-signature.ts';

const SEGMENT_PATH = /\/hls\/([A-Za-z0-9_-]{1,64})\/([A-Za-z0-9_-]{1,32})\/(\d{1,12})\.(?:ts|m4s)$/;
const PART_PATH = /\/hls\/([A-Za-z0-9_-]{1,64})\/([A-Za-z0-9_-]{1,32})\/(\d{1,12})\.(\d{1,4})\.m4s$/;
const INIT_PATH = /\/hls\/([A-Za-z0-9_-]{1,64})\/([A-Za-z0-9_-]{1,32})\/init-(\d{1,12})\.mp4$/;
/** EXT-X-PART durations are written with five decimals, signed with six (media/ll-playlist.ts). */
const PART_DURATION_TOLERANCE_S = 0.00002;
/** EXTINF is written with three decimals (media/hls-playlist.ts). */
const EXTINF_TOLERANCE_S = 0.0006;

/** Where the publisher key came from. */
export type PublisherSource = 'directory' | 'attribute' | 'first-segment';

export interface VerificationState {
  publisher: string | null;
  publisherSource: PublisherSource | null;
  verified: number;
  refused: number;
  /** Newest refusals, reason and URL. */
  refusals: Array<{ url: string; reason: string }>;
  /** Sequence numbers verified, per rendition. */
  verifiedSeqs: Record<string, number[]>;
  /** The newest parts verified (`<seq>.<part>`, at most 100), per rendition, and init segments verified. */
  verifiedParts: Record<string, string[]>;
  verifiedInits: number;
  /** Milliseconds spent checking (hash and signature) over all segments. */
  checkMs: number;
  /** Of checkMs, the signature check: synchronous, so main-thread CPU time exactly (the hash's share is wall time, WebCrypto's work off the main thread included). */
  signatureMs: number;
  /** The newest signature checks' times, ms (the first of a publisher also builds its key's tables). */
  signatureTimes: number[];
  checkedBytes: number;
}

/** What the playlist said of the segment (hls.js's Fragment). */
export interface FragmentClaim {
  sn: number | 'initSegment';
  duration: number;
  /** The playlist's tags for the segment as hls.js read them (its EXTINF as written: hls.js later sets `duration` from the media's timestamps). */
  tagList?: string[][];
  programDateTime: number | null;
}

/** The EXTINF the playlist listed, as written; hls.js's `duration` only where the tag is not at hand. */
function listedDuration(frag: FragmentClaim): number {
  const inf = frag.tagList?.find((t) => t[0] === 'INF')?.[1];
  return inf !== undefined ? Number(inf) : frag.duration;
}

/** What the playlist said of a part (hls.js's Part, the loader context's `part`). */
export interface PartClaimed {
  index: number;
  duration: number;
  independent: boolean;
}

async function sha256(bytes: ArrayBuffer): Promise<Uint8Array> {
  // WebCrypto only in a secure context (https, or a loopback address); otherwise noble's, in JS.
  const subtle = globalThis.crypto?.subtle;
  return subtle ? new Uint8Array(await subtle.digest('SHA-256', bytes)) : jsSha256(new Uint8Array(bytes));
}

export class SegmentVerifier {
  readonly state: VerificationState = { publisher: null, publisherSource: null, verified: 0, refused: 0, refusals: [], verifiedSeqs: {}, verifiedParts: {}, verifiedInits: 0, checkMs: 0, signatureMs: 0, signatureTimes: [], checkedBytes: 0 };
  private readonly publisher: Promise<string | null>;
  /** The publisher key could not be learned (the directory did not answer): a new verifier should try again. */
  failed = false;

  /** `publisher`: the key, or a promise of it (the directory's answer); null: the first signer binds. */
  constructor(publisher: Promise<{ address: string; source: PublisherSource }> | null) {
    this.publisher = publisher
      ? publisher.then((p) => {
          this.state.publisher = p.address.toLowerCase();
          this.state.publisherSource = p.source;
          return this.state.publisher;
        })
      : Promise.resolve(null);
    this.publisher.catch(() => {
      this.failed = true;
    });
  }

  /** Null when the segment is its publisher's and the playlist agrees with it; else the reason. */
  async verify(url: string, bytes: ArrayBuffer, header: (name: string) => string | null, frag: FragmentClaim, part: PartClaimed | null = null): Promise<string | null> {
    const reason = await this.check(url, bytes, header, frag, part).catch((err: Error) => `publisher_unknown: ${err.message}`);
    if (reason) {
      this.state.refused++;
      this.state.refusals = [...this.state.refusals.slice(-19), { url, reason }];
    }
    return reason;
  }

  private async check(url: string, bytes: ArrayBuffer, header: (name: string) => string | null, frag: FragmentClaim, part: PartClaimed | null): Promise<string | null> {
    const pathname = new URL(url, location.href).pathname;
    if (part) return this.checkPart(pathname, bytes, header, frag, part);
    if (frag.sn === 'initSegment') return this.checkInit(pathname, bytes, header);
    const m = SEGMENT_PATH.exec(pathname);
    if (!m) return 'not_a_segment_url';
    const [, playbackId, rendition, seqText] = m;
    const seq = Number(seqText);
    if (frag.sn !== seq) return 'sequence_mismatch';
    const durationText = header('castnet-duration');
    const programDateTime = header('castnet-program-date-time');
    const discontinuity = header('castnet-discontinuity');
    const signature = header(CONTENT_SIGNATURE_HEADER);
    if (!signature) return 'unsigned';
    if (durationText === null || programDateTime === null || (discontinuity !== '0' && discontinuity !== '1')) return 'metadata_missing';
    const duration = Number(durationText);
    if (!(Math.abs(duration - listedDuration(frag)) <= EXTINF_TOLERANCE_S)) return 'duration_mismatch';
    if (frag.programDateTime !== null && Math.abs(Date.parse(programDateTime) - frag.programDateTime) > 1) return 'program_date_time_mismatch';
    const started = performance.now();
    const claim: SegmentClaim = { playbackId: playbackId!, rendition: rendition!, seq, duration, programDateTime, discontinuity: discontinuity === '1', sha256: await sha256(bytes) };
    let publisher = await this.publisher;
    if (publisher === null) {
      // No key to check against: the first signer binds, so at least every segment is the same key's.
      publisher = this.state.publisher ?? segmentSigner(claim, signature);
      if (!publisher) return 'signature_malformed';
      this.state.publisher = publisher;
      this.state.publisherSource = 'first-segment';
    }
    const signatureStarted = performance.now();
    const refusal = checkSegmentSignature(claim, signature, publisher);
    const done = performance.now();
    this.state.signatureMs += done - signatureStarted;
    this.state.signatureTimes = [...this.state.signatureTimes.slice(-63), done - signatureStarted];
    this.state.checkMs += done - started;
    this.state.checkedBytes += bytes.byteLength;
    if (refusal) return refusal;
    this.state.verified++;
    (this.state.verifiedSeqs[rendition!] ??= []).push(seq);
    return null;
  }

  /** The publisher key (null: the first signer binds, as for segments), the cost counted. */
  private async signedBy(bytes: ArrayBuffer, signer: (s: string) => string | null, check: (publisher: string) => string | null, signature: string): Promise<string | null> {
    const started = performance.now();
    let publisher = await this.publisher;
    if (publisher === null) {
      publisher = this.state.publisher ?? signer(signature);
      if (!publisher) return 'signature_malformed';
      this.state.publisher = publisher;
      this.state.publisherSource = 'first-segment';
    }
    const refusal = check(publisher);
    this.state.checkMs += performance.now() - started;
    this.state.checkedBytes += bytes.byteLength;
    if (refusal) return refusal;
    this.state.verified++;
    return null;
  }

  private async checkPart(pathname: string, bytes: ArrayBuffer, header: (name: string) => string | null, frag: FragmentClaim, part: PartClaimed): Promise<string | null> {
    const m = PART_PATH.exec(pathname);
    if (!m) return 'not_a_part_url';
    const [, playbackId, rendition, seqText, partText] = m;
    const seq = Number(seqText);
    if (frag.sn !== seq || part.index !== Number(partText)) return 'sequence_mismatch';
    const durationText = header(PART_HEADERS.duration);
    const independent = header(PART_HEADERS.independent);
    const signature = header(CONTENT_SIGNATURE_HEADER);
    if (!signature) return 'unsigned';
    if (durationText === null || (independent !== '0' && independent !== '1')) return 'metadata_missing';
    const duration = Number(durationText);
    if (!(Math.abs(duration - part.duration) <= PART_DURATION_TOLERANCE_S)) return 'duration_mismatch';
    if ((independent === '1') !== part.independent) return 'independent_mismatch';
    const claim = { playbackId: playbackId!, rendition: rendition!, seq, part: part.index, duration, independent: independent === '1', sha256: await sha256(bytes) };
    const reason = await this.signedBy(bytes, (s) => partSigner(claim, s), (p) => checkPartSignature(claim, signature, p), signature);
    // The newest ones only: three a second for as long as the page plays.
    if (reason === null) this.state.verifiedParts[rendition!] = [...(this.state.verifiedParts[rendition!] ?? []).slice(-99), `${seq}.${part.index}`];
    return reason;
  }

  private async checkInit(pathname: string, bytes: ArrayBuffer, header: (name: string) => string | null): Promise<string | null> {
    const m = INIT_PATH.exec(pathname);
    if (!m) return 'not_an_init_url';
    const [, playbackId, rendition, seqText] = m;
    const partTargetText = header(PART_HEADERS.partTarget);
    const signature = header(CONTENT_SIGNATURE_HEADER);
    if (!signature) return 'unsigned';
    if (partTargetText === null || !(Number(partTargetText) > 0)) return 'metadata_missing';
    const claim = { playbackId: playbackId!, rendition: rendition!, seq: Number(seqText), partTarget: Number(partTargetText), sha256: await sha256(bytes) };
    const reason = await this.signedBy(bytes, (s) => initSigner(claim, s), (p) => checkInitSignature(claim, signature, p), signature);
    if (reason === null) this.state.verifiedInits++;
    return reason;
  }
}

/** The publisher key of a stream from the orchestrator's directory entry (`GET /api/streams/<id>`). */
export async function directoryPublisher(directoryUrl: string): Promise<{ address: string; source: PublisherSource }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(directoryUrl, { cache: 'no-store' });
      if (res.ok) {
        const entry = (await res.json()) as { publisher?: unknown };
        if (typeof entry.publisher === 'string' && /^0x[0-9a-fA-F]{40}$/.test(entry.publisher)) return { address: entry.publisher, source: 'directory' };
        throw new Error('the directory names no publisher key for this stream');
      }
      if (attempt >= 2) throw new Error(`the directory answered ${res.status}`);
    } catch (err) {
      if (attempt >= 2) throw err;
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}
