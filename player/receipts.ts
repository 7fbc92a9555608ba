// The player's side of paid delivery (issue 14): an ephemeral secp256k1 key made in the page, certified by
// the stream's payer (`POST <payer>/delivery/sessions`, named by the directory entry), and one cumulative
// receipt per relay — "this session received B bytes of stream P from relay R, the last being rendition r,
// sequence n" — signed every few seconds when B moved and once more when the player leaves. A receipt
// rides on the player's next segment request to that relay (the `castnet-receipt` query parameter; the
// relay answers in a `castnet-receipt` response header): no request of its own, which cost a relay as much
// CPU as a segment request (bench/receipts), and no CORS preflight, which a custom request header would
// cost on every segment URL. A receipt no segment request took by the next interval (the player paused, or
// moved to another relay), one a relay did not answer (an older relay), and the last one on leaving
// (keepalive) are POSTed on their own. Bytes are counted only for segments that passed the
// publisher-signature check. A player that
// fails over starts a new cumulative count for the new relay; the old relay keeps its last receipt. The
// session is renewed (a new key) before its certificate expires or its byte budget runs out. Runs in the
// browser; a Node script can drive it too (it needs only fetch). Cost: one signature per relay per interval.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { addressOfPublicKey } from '../protocol/address.ts';
import { deliveryTermsSchema, parseReceiptAnswer, RECEIPT_ANSWER_HEADER, signReceipt, signedCertificateSchema, withReceiptParam, type DeliveryTerms, type SignedCertificate, type SignedReceipt } from '../protocol/delivery-receipt.ts';

/**
 * A receipt every 10 s per relay: the relay's claim lags by at most this plus its claim interval, the
 * player signs 6 a minute, and the relay checks one signature per viewer per 10 s (bench/receipts).
 */
export const RECEIPT_INTERVAL_MS = 10_000;
/** Renew the session this long before its certificate expires. */
const RENEW_BEFORE_MS = 60_000;
/**
 * What a viewer pays for: MPEG-TS segments (`<seq>.ts`), and on a low-latency rendition CMAF segments
 * (`<seq>.m4s`), parts (`<seq>.<part>.m4s`) and init segments (`init-<seq>.mp4`, counted without moving the
 * receipt's sequence: an init's number is the segment it starts at, which may not be published yet).
 */
const SEGMENT_PATH = /\/hls\/([A-Za-z0-9_-]{1,64})\/([A-Za-z0-9_-]{1,32})\/(?:(\d{1,12})(?:\.\d{1,4})?\.(?:ts|m4s)|init-(\d{1,12})\.mp4)(?:\?|$)/;

export interface ReceiptsState {
  enabled: boolean;
  session: string | null;
  /** Receipts signed, and the milliseconds spent signing them. */
  signatures: number;
  signMs: number;
  /** Receipts the relays refused, with the last reason. */
  refused: number;
  lastRefusal: string | null;
  /** Cumulative bytes per relay origin in the current session, and the last value each relay acknowledged. */
  relays: Record<string, { bytes: number; sent: number }>;
  /** Receipts that rode on segment requests, and those POSTed on their own. */
  rode: number;
  posted: number;
  /** Sessions this player held (renewals included). */
  sessions: number;
}

interface RelayCount {
  bytes: number;
  sent: number;
  rendition: string;
  sequence: number;
  address: Promise<string | null> | null;
  /** Signed, waiting for the next segment request to this relay. */
  due: SignedReceipt | null;
  /** On a segment request, its answer not read yet. */
  riding: SignedReceipt | null;
}

interface Session {
  key: Uint8Array;
  address: string;
  certificate: SignedCertificate;
  relays: Map<string, RelayCount>;
  total: number;
}

export interface DeliveryReceiptsOptions {
  playbackId: string;
  /** The stream's terms, or a promise of them (the directory's answer); null: the stream pays no relay. */
  terms: Promise<DeliveryTerms | null>;
  fetch?: typeof globalThis.fetch;
  /** Signed playback: the viewer's token, which the payer asks for before it issues a session. */
  token?: string;
  intervalMs?: number;
  now?: () => number;
}

/** The delivery terms in the orchestrator's directory entry (the player's `directory` URL). */
export async function directoryTerms(url: string, fetchFn: typeof globalThis.fetch = globalThis.fetch): Promise<DeliveryTerms | null> {
  const res = await fetchFn(url, { cache: 'no-store' });
  if (!res.ok) return null;
  const body = (await res.json()) as { delivery?: unknown };
  const parsed = deliveryTermsSchema.nullable().safeParse(body.delivery ?? null);
  return parsed.success ? parsed.data : null;
}

export class DeliveryReceipts {
  readonly state: ReceiptsState = { enabled: false, session: null, signatures: 0, signMs: 0, refused: 0, lastRefusal: null, relays: {}, rode: 0, posted: 0, sessions: 0 };
  private readonly options: DeliveryReceiptsOptions;
  private readonly fetch: typeof globalThis.fetch;
  private readonly now: () => number;
  private terms: DeliveryTerms | null = null;
  private session: Promise<Session | null> | null = null;
  /** The session once it resolved: segment requests read it synchronously. */
  private current: Session | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private closed = false;

  constructor(options: DeliveryReceiptsOptions) {
    this.options = options;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.now = options.now ?? Date.now;
    void options.terms
      .then((t) => {
        this.terms = t;
        this.state.enabled = t !== null;
        if (t && !this.closed) {
          this.session = this.newSession();
          this.timer = setInterval(() => void this.flush(false), options.intervalMs ?? RECEIPT_INTERVAL_MS);
        }
      })
      .catch(() => undefined);
  }

  private async newSession(): Promise<Session | null> {
    const terms = this.terms;
    if (!terms) return null;
    const key = secp256k1.utils.randomSecretKey();
    const address = addressOfPublicKey(secp256k1.getPublicKey(key, false));
    try {
      const res = await this.fetch(`${terms.url.replace(/\/$/, '')}/delivery/sessions`, { method: 'POST', headers: { 'content-type': 'application/json', ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}) }, body: JSON.stringify({ playbackId: this.options.playbackId, sessionKey: address }) });
      if (!res.ok) throw new Error(`the payer answered ${res.status}`);
      const certificate = signedCertificateSchema.parse(await res.json());
      if (certificate.certificate.payer !== terms.payer || certificate.certificate.sessionKey !== address) throw new Error('the payer certified another key');
      this.state.session = address;
      this.state.sessions++;
      this.state.relays = {};
      this.current = { key, address, certificate, relays: new Map(), total: 0 };
      return this.current;
    } catch (err) {
      this.state.lastRefusal = `session: ${(err as Error).message}`;
      // Asked again at the next flush.
      this.session = null;
      return null;
    }
  }

  /** A segment that passed its checks: `url` on the relay that served it, `bytes` as received. Hot path: every segment. */
  delivered(url: string, bytes: number): void {
    if (!this.state.enabled || this.closed) return;
    const m = SEGMENT_PATH.exec(url);
    if (!m || m[1] !== this.options.playbackId) return;
    const relay = new URL(url, globalThis.location?.href).origin;
    this.session ??= this.newSession();
    void this.session.then((s) => {
      if (!s) return;
      const media = m[3] !== undefined;
      let count = s.relays.get(relay);
      if (!count) {
        count = { bytes: 0, sent: 0, rendition: m[2]!, sequence: Number(m[3] ?? m[4]), address: null, due: null, riding: null };
        s.relays.set(relay, count);
      }
      count.bytes += bytes;
      if (media) {
        count.rendition = m[2]!;
        count.sequence = Number(m[3]);
      }
      s.total += bytes;
      this.state.relays[relay] = { bytes: count.bytes, sent: count.sent };
    });
  }

  /** `url` (a segment or part request about to go out) with the receipt due for its relay, if one is. Hot path: every segment. */
  attach(url: string): string {
    const s = this.current;
    if (!s || this.closed) return url;
    const count = s.relays.get(new URL(url, globalThis.location?.href).origin);
    if (!count?.due) return url;
    count.riding = count.due;
    count.due = null;
    this.state.rode++;
    return withReceiptParam(url, count.riding);
  }

  /** The relay's answer to the request `url` went out as (its castnet-receipt response header, null when none). */
  answered(url: string, header: (name: string) => string | null): void {
    const s = this.current;
    if (!s) return;
    const relay = new URL(url, globalThis.location?.href).origin;
    const count = s.relays.get(relay);
    const sent = count?.riding;
    if (!count || !sent) return;
    count.riding = null;
    const answer = parseReceiptAnswer(header(RECEIPT_ANSWER_HEADER));
    if (answer === null) {
      // Not answered (the request failed, or a relay that ignores the parameter): POSTed at the next interval.
      count.due ??= sent;
      return;
    }
    if (answer.kept) count.sent = Math.max(count.sent, sent.receipt.bytes);
    else {
      this.state.refused++;
      this.state.lastRefusal = answer.reason;
    }
    this.state.relays[relay] = { bytes: count.bytes, sent: count.sent };
  }

  private relayAddress(relay: string): Promise<string | null> {
    return this.fetch(`${relay}/delivery/${this.options.playbackId}`)
      .then(async (res) => (res.ok ? ((await res.json()) as { relay?: unknown }).relay : null))
      .then((a) => (typeof a === 'string' && /^0x[0-9a-f]{40}$/.test(a) ? a : null))
      .catch(() => null);
  }

  /**
   * Signs a receipt for every relay whose count moved: due for its next segment request, or POSTed when
   * the last one is still waiting (no segment request took it), and always when `final`: the player leaves (keepalive).
   */
  async flush(final: boolean): Promise<void> {
    if (!this.state.enabled) return;
    this.session ??= this.newSession();
    const s = await this.session;
    if (!s) return;
    const c = s.certificate.certificate;
    await Promise.all(
      [...s.relays].map(async ([relay, count]) => {
        if (count.bytes === count.sent) return;
        count.address ??= this.relayAddress(relay);
        const address = await count.address;
        if (!address) {
          count.address = null;
          return;
        }
        // One riding now: its answer comes with the segment.
        if (!final && count.riding && count.riding.receipt.bytes === count.bytes) return;
        const started = globalThis.performance?.now() ?? this.now();
        const signed = signReceipt({ session: s.address, playbackId: this.options.playbackId, relay: address, bytes: count.bytes, rendition: count.rendition, sequence: count.sequence, at: this.now() }, s.key, s.certificate);
        this.state.signMs += (globalThis.performance?.now() ?? this.now()) - started;
        this.state.signatures++;
        const untaken = count.due !== null;
        if (!final && !untaken) {
          count.due = signed;
          return;
        }
        count.due = null;
        this.state.posted++;
        try {
          const res = await this.fetch(`${relay}/delivery/${this.options.playbackId}/receipts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(signed), keepalive: final });
          if (res.ok) count.sent = signed.receipt.bytes;
          else {
            this.state.refused++;
            this.state.lastRefusal = `${res.status}`;
          }
        } catch (err) {
          this.state.lastRefusal = (err as Error).message;
        }
        this.state.relays[relay] = { bytes: count.bytes, sent: count.sent };
      }),
    );
    // Renewed before the payer would stop paying for this session: a new key, new cumulative counts.
    if (!final && (this.now() > c.expiresAt - RENEW_BEFORE_MS || s.total > c.byteBudget * 0.9)) this.session = this.newSession();
  }

  /** The player leaves: one last receipt per relay, then nothing more. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    return this.flush(true);
  }
}
