// The player's check of every segment before it plays (protocol/content-signature.ts): the publisher's
// signature, carried by the relay as response headers, over the segment's playback id, rendition and
// sequence number (read from its URL), duration, program date time, discontinuity and the SHA-256 of the
// bytes as received; and the playlist's claims about the segment (sequence, EXTINF, PROGRAM-DATE-TIME)
// agree with what was signed. The publisher key is the one the orchestrator's directory binds to the
// playback id (the `directory` attribute), or the one an embedder gives (`publisher`); with neither, the
// first signer binds the stream and the player says that its key is unchecked. This file runs in the
// browser. Hot path: every segment.

import { sha256 as jsSha256 } from '@noble/hashes/sha2.js';
import { checkSegmentSignature, segmentSigner, CONTENT_SIGNATURE_HEADER, type SegmentClaim } from '../protocol/content-signature.ts';

const SEGMENT_PATH = /\/hls\/([A-Za-z0-9_-]{1,64})\/([A-Za-z0-9_-]{1,32})\/(\d{1,12})\.ts$/;
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
  programDateTime: number | null;
}

async function sha256(bytes: ArrayBuffer): Promise<Uint8Array> {
  // WebCrypto only in a secure context (https, or a loopback address); otherwise noble's, in JS.
  const subtle = globalThis.crypto?.subtle;
  return subtle ? new Uint8Array(await subtle.digest('SHA-256', bytes)) : jsSha256(new Uint8Array(bytes));
}

export class SegmentVerifier {
  readonly state: VerificationState = { publisher: null, publisherSource: null, verified: 0, refused: 0, refusals: [], verifiedSeqs: {}, checkMs: 0, signatureMs: 0, signatureTimes: [], checkedBytes: 0 };
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
  async verify(url: string, bytes: ArrayBuffer, header: (name: string) => string | null, frag: FragmentClaim): Promise<string | null> {
    const reason = await this.check(url, bytes, header, frag).catch((err: Error) => `publisher_unknown: ${err.message}`);
    if (reason) {
      this.state.refused++;
      this.state.refusals = [...this.state.refusals.slice(-19), { url, reason }];
    }
    return reason;
  }

  private async check(url: string, bytes: ArrayBuffer, header: (name: string) => string | null, frag: FragmentClaim): Promise<string | null> {
    const m = SEGMENT_PATH.exec(new URL(url, location.href).pathname);
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
    if (!(Math.abs(duration - frag.duration) <= EXTINF_TOLERANCE_S)) return 'duration_mismatch';
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
