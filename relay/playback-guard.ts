// Signed playback at a relay: the one check every viewer-facing route runs (`await guard.admit(id, req)`),
// and the owner of what the relay knows of each stream's playback policy (protocol/playback-policy.ts).
// An origin learns the policy from its publisher's descriptor; an edge from the orchestrator's directory
// and from its parent, believing only documents the stream's publisher signed and keeping the newest, so a
// parent cannot turn a signed stream public by sending an old or forged document or none (when it says
// none, the directory is asked too; with neither, the edge refuses to serve). A verified viewer token is
// also what the edge presents to its parent for the stream (upstream.ts): an edge with no viewer holding a
// valid token pulls nothing of a signed stream. Hot path: every viewer request; a public stream held here
// is a map lookup (`publicHere`), a signed one a hash and an LRU lookup once its token is verified.

import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { CastnetError } from '../protocol/errors.ts';
import { policySigner, signedPlaybackPolicySchema, type PlaybackPolicy, type SignedPlaybackPolicy } from '../protocol/playback-policy.ts';
import { PlaybackTokenVerifier, requestToken, type TokenKeys } from '../protocol/playback-token.ts';
import type { PublisherKeys } from './publisher-keys.ts';
import { SingleFlight } from './single-flight.ts';

/** A stream's signed policy document from the directory (null: it names none); rejects when it cannot be asked. */
export type PolicyLookup = (playbackId: string) => Promise<SignedPlaybackPolicy | null>;

export interface PlaybackGuardOptions {
  keys: PublisherKeys;
  /** Whether this relay holds the stream as its origin (its policy is then only the pushed one). */
  holds: (playbackId: string) => boolean;
  /** The parent's document for a stream this relay pulls (null: the parent names none); absent on an origin-only relay. */
  fromParent?: PolicyLookup;
  /** The orchestrator's directory. */
  fromDirectory?: PolicyLookup;
  /** HS256 secrets this relay's operator was trusted with, per playback id (--playback-secrets-file). */
  hs256Secrets?: ReadonlyMap<string, Uint8Array[]>;
  now?: () => number;
  /** How long a pulled stream's policy is reused before it is asked again. */
  refreshMs?: number;
  onRefused?: (reason: string) => void;
}

const REFRESH_MS = 5_000;
const MAX_STREAMS = 10_000;

interface Known {
  doc: SignedPlaybackPolicy | null;
  at: number;
}

/** `{ "<playbackId>": ["<secret, base64url>", …] }`: the HS256 secrets of streams whose streamer trusts this relay. */
const secretsFileSchema = z.record(z.string(), z.array(z.string().min(43).max(512)).max(4));

export function readPlaybackSecrets(path: string): Map<string, Uint8Array[]> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CastnetError('BAD_REQUEST', `cannot read the playback secrets file ${path}: ${(err as Error).message}`, { file: path });
  }
  const parsed = secretsFileSchema.safeParse(json);
  if (!parsed.success) throw new CastnetError('BAD_REQUEST', `the playback secrets file ${path} must map playback ids to lists of base64url HS256 secrets (castnet keys playback … --alg HS256 prints one)`, { file: path });
  return new Map(Object.entries(parsed.data).map(([id, secrets]) => [id, secrets.map((s) => new Uint8Array(Buffer.from(s, 'base64url')))]));
}

export class PlaybackGuard {
  private readonly options: PlaybackGuardOptions;
  private readonly now: () => number;
  private readonly verifier: PlaybackTokenVerifier;
  /** Pushed by the publisher (origin). */
  private readonly pushed = new Map<string, SignedPlaybackPolicy>();
  /** Learned from the directory and parents (edge). */
  private readonly pulled = new Map<string, Known>();
  private readonly flights = new SingleFlight<SignedPlaybackPolicy | null>();
  /** The newest verified viewer token per stream and its expiry: what an edge shows its parent. */
  private readonly tokens = new Map<string, { token: string; exp: number }>();

  constructor(options: PlaybackGuardOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.verifier = new PlaybackTokenVerifier({ now: this.now });
  }

  /** The publisher's descriptor carried this document (its signer already checked as the publisher's by push-routes). */
  async setPushed(playbackId: string, doc: SignedPlaybackPolicy): Promise<void> {
    if (doc.policy.playbackId !== playbackId) throw new CastnetError('BAD_REQUEST', 'the playback policy names another playback id', { playbackId, reason: 'policy_invalid' });
    await this.checkSigned(playbackId, doc, 'push');
    const old = this.pushed.get(playbackId);
    if (old && old.policy.issuedAt > doc.policy.issuedAt) throw new CastnetError('BAD_REQUEST', 'the playback policy is older than the one this relay holds', { playbackId, reason: 'policy_stale' });
    if (!this.pushed.has(playbackId) && this.pushed.size >= MAX_STREAMS) this.pushed.delete(this.pushed.keys().next().value!);
    this.pushed.set(playbackId, doc);
  }

  /** The stream left this relay. */
  forget(playbackId: string): void {
    this.pushed.delete(playbackId);
    this.pulled.delete(playbackId);
    this.tokens.delete(playbackId);
  }

  /** Synchronous fast path: the stream is held here and plays without a token. */
  publicHere(playbackId: string): boolean {
    return this.options.holds(playbackId) && this.pushed.get(playbackId)?.policy.mode !== 'signed';
  }

  /** The document to hand to an edge or player (`GET /hls/<id>/policy.json`); null when the publisher signed none. */
  async document(playbackId: string): Promise<SignedPlaybackPolicy | null> {
    if (this.options.holds(playbackId)) return this.pushed.get(playbackId) ?? null;
    return this.remote(playbackId);
  }

  async policyOf(playbackId: string): Promise<PlaybackPolicy | null> {
    return (await this.document(playbackId))?.policy ?? null;
  }

  /**
   * THE viewer check: resolves when the request may be served, rejects with 401/403 and a reason
   * (`token_missing`, `token_expired`, `token_invalid`, `wrong_playback_id`) otherwise. Every viewer-facing
   * route of a stream (playlists, segments, parts, VOD, DVR, thumbnails) calls it before it answers.
   */
  async admit(playbackId: string, req: Pick<IncomingMessage, 'headers' | 'url'>): Promise<void> {
    if (this.publicHere(playbackId)) return;
    await this.admitUnder(playbackId, await this.policyOf(playbackId), req);
  }

  /**
   * The same check under a policy the caller holds: a recording's, kept with it (the stream itself may be
   * long gone from this relay, so its live policy is not the one to ask).
   */
  async admitUnder(playbackId: string, policy: PlaybackPolicy | null, req: Pick<IncomingMessage, 'headers' | 'url'>): Promise<void> {
    if (!policy || policy.mode !== 'signed') return;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const token = requestToken(req.headers.authorization, q < 0 ? '' : url.slice(q + 1));
    let exp: number;
    try {
      exp = await this.verifier.verify(token, playbackId, this.keysOf(policy));
    } catch (err) {
      if (err instanceof CastnetError) this.options.onRefused?.(String(err.context.reason));
      throw err;
    }
    const held = this.tokens.get(playbackId);
    if (!held || held.exp < exp) {
      if (!held && this.tokens.size >= MAX_STREAMS) this.tokens.delete(this.tokens.keys().next().value!);
      this.tokens.set(playbackId, { token: token!, exp });
    }
  }

  /** A viewer token of the stream that has not expired, to present to a parent; null when none is held. */
  tokenFor(playbackId: string): string | null {
    const held = this.tokens.get(playbackId);
    if (!held) return null;
    if (held.exp <= this.now()) {
      this.tokens.delete(playbackId);
      return null;
    }
    return held.token;
  }

  private keysOf(policy: PlaybackPolicy): TokenKeys {
    return { es256: policy.keys, hs256: this.options.hs256Secrets?.get(policy.playbackId) ?? [], version: String(policy.issuedAt) };
  }

  /** Rejects unless the stream's publisher signed the document. */
  private async checkSigned(playbackId: string, doc: SignedPlaybackPolicy, from: 'push' | 'parent' | 'directory'): Promise<void> {
    const signer = policySigner(doc);
    const publisher = signer ? await this.options.keys.publisherOf(playbackId, this.options.keys.fromDirectory ? null : signer) : null;
    if (!signer || signer !== publisher) {
      this.options.onRefused?.('policy_forged');
      throw new CastnetError('SIGNATURE_INVALID', "the playback policy is not signed by the stream's publisher key", { playbackId, from, reason: 'policy_forged' });
    }
  }

  /** The newest publisher-signed document from the directory and the parent, reused for `refreshMs`. */
  private async remote(playbackId: string): Promise<SignedPlaybackPolicy | null> {
    const known = this.pulled.get(playbackId);
    if (known && this.now() - known.at < (this.options.refreshMs ?? REFRESH_MS)) return known.doc;
    return this.flights.run(playbackId, async () => {
      const { fromParent, fromDirectory } = this.options;
      const [parent, directory] = await Promise.allSettled([fromParent ? fromParent(playbackId) : Promise.resolve(null), fromDirectory ? fromDirectory(playbackId) : Promise.resolve(null)]);
      const candidates: SignedPlaybackPolicy[] = known?.doc ? [known.doc] : [];
      for (const [result, from] of [[parent, 'parent'], [directory, 'directory']] as const) {
        if (result.status !== 'fulfilled' || !result.value) continue;
        const doc = signedPlaybackPolicySchema.safeParse(result.value);
        if (!doc.success || doc.data.policy.playbackId !== playbackId) continue;
        try {
          await this.checkSigned(playbackId, doc.data, from);
          candidates.push(doc.data);
        } catch {
          // A forged document is counted (onRefused) and ignored: the others decide.
        }
      }
      // Neither source answered and nothing is known: the policy cannot be learned, so nothing is served.
      if (candidates.length === 0 && parent.status === 'rejected' && (!fromDirectory || directory.status === 'rejected')) throw parent.reason;
      const newest = candidates.reduce<SignedPlaybackPolicy | null>((a, b) => (a && a.policy.issuedAt >= b.policy.issuedAt ? a : b), null);
      if (!this.pulled.has(playbackId) && this.pulled.size >= MAX_STREAMS) this.pulled.delete(this.pulled.keys().next().value!);
      this.pulled.set(playbackId, { doc: newest, at: this.now() });
      return newest;
    });
  }
}
