// Stream keys (secret, seen only by the broadcaster) and the public playback ids they publish to, kept in
// the data directory so a key always publishes to the same playback id. Only a missing file means "no keys":
// a corrupt one is an error, so that the next `keys add` cannot overwrite the keys it holds.
//
// The file is the only truth, shared by a running broadcaster and `castnet keys`: every lookup checks the
// file's identity (inode, size, mtime) and re-reads it when it changed, so an added key publishes and a
// removed key is refused from the next publish on, without a restart. Every change is a read-modify-write
// under an exclusive lock file, written to a temp file and renamed over, so no writer drops another's keys
// and no reader sees half a file.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { CastnetError } from '../protocol/errors.ts';
import { describeIssues } from '../protocol/fields.ts';
import { MAX_STREAM_WEBHOOKS, webhookEndpointSchema, type WebhookEndpoint } from '../protocol/webhook.ts';
import { MAX_PLAYBACK_KEYS, playbackKeySchema, type PlaybackKey } from '../protocol/playback-policy.ts';

/**
 * Signed playback (protocol/playback-policy.ts): the keys `castnet keys playback` registered. The private
 * halves stay in this file (mode 0600, beside the stream keys) so `castnet keys token` can make test tokens;
 * only the ES256 public keys leave the broadcaster, in the publisher-signed policy.
 */
const playbackSettingsSchema = z.object({
  mode: z.enum(['public', 'signed']),
  es256: z.array(z.object({ publicJwk: playbackKeySchema, privateJwk: z.record(z.string(), z.string()) })).max(MAX_PLAYBACK_KEYS).default([]),
  hs256: z.array(z.object({ kid: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), secret: z.string().min(43) })).max(MAX_PLAYBACK_KEYS).default([]),
});
export type PlaybackSettings = z.infer<typeof playbackSettingsSchema>;

const keyEntrySchema = z.object({
  playbackId: z.string().min(1),
  createdAt: z.string(),
  /** `configured` keys are the only ones accepted outside dev mode; `dev` keys were accepted on first use. */
  origin: z.enum(['configured', 'dev']),
  /** The key's own webhook receivers (the orchestrator delivers its stream's events there). */
  webhooks: z.array(webhookEndpointSchema).max(MAX_STREAM_WEBHOOKS).optional(),
  /** Who may watch; absent: public. */
  playback: playbackSettingsSchema.optional(),
  /** Whether the origin relay keeps a recording of the stream (if it records at all, --recording); absent: yes. */
  record: z.boolean().optional(),
});
type KeyEntry = z.infer<typeof keyEntrySchema>;
const keyFileSchema = z.record(z.string(), keyEntrySchema);

/** The keys in `path`; none when the file does not exist. Throws a CastnetError naming the file when it is unreadable or corrupt. */
function readKeyFile(path: string): Record<string, KeyEntry> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CastnetError('INTERNAL', `cannot read the stream keys file ${path}: ${(err as Error).message}`, { file: path }, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CastnetError('INTERNAL', `the stream keys file ${path} is corrupt (not JSON): fix it or restore it from a backup`, { file: path }, { cause: err });
  }
  const parsed = keyFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new CastnetError('INTERNAL', `the stream keys file ${path} is corrupt (${describeIssues(parsed.error)}): fix it or restore it from a backup`, { file: path });
  }
  return parsed.data;
}

export function newPlaybackId(): string {
  return randomBytes(9).toString('base64url');
}

export function newStreamKey(): string {
  return `sk_${randomBytes(18).toString('base64url')}`;
}

/** A lock older than this was left by a writer that died mid-change (a change takes milliseconds). */
const STALE_LOCK_MS = 10_000;
/** How long a writer waits for another's lock before giving up. */
const LOCK_WAIT_MS = 5_000;
const LOCK_POLL_MS = 2;

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Runs `work` holding `<path>.lock` (created exclusively); waits for another holder, breaks a stale lock. */
function withFileLock<T>(path: string, work: () => T): T {
  const lock = `${path}.lock`;
  mkdirSync(dirname(path), { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = Date.now() - (statOrNull(lock)?.mtimeMs ?? Date.now());
      if (age > STALE_LOCK_MS) rmSync(lock, { force: true });
      else if (Date.now() > deadline) throw new CastnetError('UNAVAILABLE', `the stream keys file ${path} is locked by another process (${lock}); remove the lock if no castnet process is changing keys`, { file: path });
      else sleepSync(LOCK_POLL_MS);
    }
  }
  try {
    return work();
  } finally {
    rmSync(lock, { force: true });
  }
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** What changes when the file is replaced or rewritten: a rename gives a new inode. */
const versionOf = (s: Stats | null) => (s ? `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}` : 'none');

export interface StreamKey {
  streamKey: string;
  playbackId: string;
  origin: KeyEntry['origin'];
  createdAt: string;
  webhooks?: WebhookEndpoint[];
  playback?: PlaybackSettings;
  /** False: the origin keeps no recording of its streams. */
  record?: boolean;
}

/** What a stream key says about its streams besides its playback id. */
export interface StreamSettings {
  webhooks: WebhookEndpoint[];
  /** The playback policy: its mode, the ES256 public keys relays verify tokens with, the HS256 secrets only this broadcaster holds. */
  playback: { mode: 'public' | 'signed'; keys: PlaybackKey[]; hs256Secrets: Uint8Array[] };
  /** False: the origin keeps no recording of this stream (`castnet keys record <key> off`). */
  record: boolean;
}

export class StreamKeyStore {
  readonly path: string;
  private readonly devMode: boolean;
  private entries: Record<string, KeyEntry> = {};
  private version = '';

  constructor(options: { dataDir: string; devMode: boolean }) {
    this.path = join(options.dataDir, 'stream-keys.json');
    this.devMode = options.devMode;
    this.refresh();
  }

  /** Re-reads the file when it changed since the last read (one stat otherwise): publishes are rare, revocations must bite at once. */
  private refresh(): Record<string, KeyEntry> {
    const version = versionOf(statOrNull(this.path));
    if (version !== this.version) {
      this.entries = readKeyFile(this.path);
      this.version = version;
    }
    return this.entries;
  }

  /** Read-modify-write under the lock, from the file as it is now (never from this store's copy). */
  private change<T>(edit: (entries: Record<string, KeyEntry>) => { result: T; write: boolean }): T {
    return withFileLock(this.path, () => {
      const entries = readKeyFile(this.path);
      const { result, write } = edit(entries);
      if (write) {
        const tmp = `${this.path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
        writeFileSync(tmp, JSON.stringify(entries, null, 2), { mode: 0o600 });
        renameSync(tmp, this.path);
      }
      this.entries = entries;
      this.version = versionOf(statOrNull(this.path));
      return result;
    });
  }

  private static hasConfiguredKeys(entries: Record<string, KeyEntry>): boolean {
    return Object.values(entries).some((e) => e.origin === 'configured');
  }

  /** Adds a key that is accepted in every mode; returns its playback id. */
  add(streamKey: string = newStreamKey(), playbackId: string = newPlaybackId(), origin: KeyEntry['origin'] = 'configured'): { streamKey: string; playbackId: string } {
    if (!/^[A-Za-z0-9_.~-]{1,128}$/.test(streamKey)) throw new CastnetError('BAD_REQUEST', 'a stream key is 1-128 characters of A-Z a-z 0-9 _ . ~ -');
    return this.change((entries) => {
      const existing = entries[streamKey];
      // A configured key stays configured: a dev first-use never downgrades it.
      if (existing && (existing.origin === origin || existing.origin === 'configured')) return { result: { streamKey, playbackId: existing.playbackId }, write: false };
      entries[streamKey] = { playbackId: existing?.playbackId ?? playbackId, createdAt: new Date().toISOString(), origin };
      return { result: { streamKey, playbackId: entries[streamKey].playbackId }, write: true };
    });
  }

  /** Removes the key given by itself or by its playback id; returns what was removed (none: nothing matched). */
  remove(keyOrPlaybackId: string): StreamKey[] {
    return this.change((entries) => {
      const removed = Object.entries(entries)
        .filter(([key, e]) => key === keyOrPlaybackId || e.playbackId === keyOrPlaybackId)
        .map(([streamKey, e]) => ({ streamKey, ...e }));
      for (const r of removed) delete entries[r.streamKey];
      return { result: removed, write: removed.length > 0 };
    });
  }

  /**
   * The playback id a key publishes to, from the file as it is now. Outside dev mode only configured keys are
   * accepted; in dev mode any key is, unless keys have been configured.
   */
  resolve(streamKey: string): string {
    if (!/^[A-Za-z0-9_.~-]{1,128}$/.test(streamKey)) throw new CastnetError('STREAM_KEY_REFUSED', 'malformed stream key');
    // Names every plain object has (`__proto__`, `constructor`…) are refused: keys live in one such object.
    if (streamKey in Object.prototype) throw new CastnetError('STREAM_KEY_REFUSED', 'this stream key is a reserved name');
    const entries = this.refresh();
    const open = this.devMode && !StreamKeyStore.hasConfiguredKeys(entries);
    // Own keys only: a key named `__proto__` or `constructor` must not resolve to what a plain object inherits.
    const entry = Object.hasOwn(entries, streamKey) ? entries[streamKey] : undefined;
    if (entry && (entry.origin === 'configured' || open)) return entry.playbackId;
    if (open) return this.add(streamKey, newPlaybackId(), 'dev').playbackId;
    throw new CastnetError('STREAM_KEY_REFUSED', 'unknown stream key');
  }

  /** The settings of the key publishing to `playbackId`, from the file as it is now; defaults when none names it. */
  settingsOf(playbackId: string): StreamSettings {
    const entry = Object.values(this.refresh()).find((e) => e.playbackId === playbackId);
    const playback = entry?.playback;
    return {
      webhooks: entry?.webhooks ?? [],
      record: entry?.record ?? true,
      playback: { mode: playback?.mode ?? 'public', keys: playback?.es256.map((k) => k.publicJwk) ?? [], hs256Secrets: playback?.hs256.map((k) => new Uint8Array(Buffer.from(k.secret, 'base64url'))) ?? [] },
    };
  }

  /** Changes the entry of the key given by itself or by its playback id; NOT_FOUND when none matches. */
  update(keyOrPlaybackId: string, edit: (entry: StreamKey) => void): StreamKey {
    return this.change((entries) => {
      const found = Object.entries(entries).find(([key, e]) => key === keyOrPlaybackId || e.playbackId === keyOrPlaybackId);
      if (!found) throw new CastnetError('NOT_FOUND', `no stream key or playback id "${keyOrPlaybackId}" in ${this.path}`);
      const [streamKey, entry] = found;
      const copy: StreamKey = { streamKey, ...entry };
      edit(copy);
      const { streamKey: _, ...next } = copy;
      entries[streamKey] = keyEntrySchema.parse(next);
      return { result: { streamKey, ...entries[streamKey] }, write: true };
    });
  }

  list(): StreamKey[] {
    return Object.entries(this.refresh()).map(([streamKey, e]) => ({ streamKey, ...e }));
  }
}
