// Stream keys (secret, seen only by the broadcaster) and the public playback ids they publish to, kept in
// the data directory so a key always publishes to the same playback id. Only a missing file means "no keys":
// a corrupt one is an error, so that the next `keys add` cannot overwrite the keys it holds.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { CastnetError } from '../protocol/errors.ts';

const keyEntrySchema = z.object({
  playbackId: z.string().min(1),
  createdAt: z.string(),
  /** `configured` keys are the only ones accepted outside dev mode; `dev` keys were accepted on first use. */
  origin: z.enum(['configured', 'dev']),
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
    throw new CastnetError('INTERNAL', `the stream keys file ${path} is corrupt (${parsed.error.issues[0]?.message ?? 'unexpected shape'}): fix it or restore it from a backup`, { file: path });
  }
  return parsed.data;
}

export function newPlaybackId(): string {
  return randomBytes(9).toString('base64url');
}

export function newStreamKey(): string {
  return `sk_${randomBytes(18).toString('base64url')}`;
}

export class StreamKeyStore {
  private readonly path: string;
  private readonly devMode: boolean;
  private entries: Record<string, KeyEntry>;

  constructor(options: { dataDir: string; devMode: boolean }) {
    this.path = join(options.dataDir, 'stream-keys.json');
    this.devMode = options.devMode;
    this.entries = readKeyFile(this.path);
  }

  /** Written to a temp file of this process's own, then renamed over the file: a reader never sees half a file. */
  private save(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.entries, null, 2), { mode: 0o600 });
    renameSync(tmp, this.path);
  }

  private get hasConfiguredKeys(): boolean {
    return Object.values(this.entries).some((e) => e.origin === 'configured');
  }

  /** Adds a key that is accepted in every mode; returns its playback id. */
  add(streamKey: string = newStreamKey(), playbackId: string = newPlaybackId(), origin: KeyEntry['origin'] = 'configured'): { streamKey: string; playbackId: string } {
    // Read-modify-write: keys another process (e.g. `castnet keys add`) added since are kept.
    this.entries = readKeyFile(this.path);
    const existing = this.entries[streamKey];
    if (existing && existing.origin === origin) return { streamKey, playbackId: existing.playbackId };
    this.entries[streamKey] = { playbackId: existing?.playbackId ?? playbackId, createdAt: new Date().toISOString(), origin };
    this.save();
    return { streamKey, playbackId: this.entries[streamKey]!.playbackId };
  }

  /**
   * The playback id a key publishes to. Outside dev mode only configured keys are accepted; in dev mode any
   * key is, unless keys have been configured.
   */
  resolve(streamKey: string): string {
    if (!/^[A-Za-z0-9_.~-]{1,128}$/.test(streamKey)) throw new CastnetError('STREAM_KEY_REFUSED', 'malformed stream key');
    const entry = this.entries[streamKey];
    if (entry && (entry.origin === 'configured' || (this.devMode && !this.hasConfiguredKeys))) return entry.playbackId;
    if (this.devMode && !this.hasConfiguredKeys) return this.add(streamKey, newPlaybackId(), 'dev').playbackId;
    throw new CastnetError('STREAM_KEY_REFUSED', 'unknown stream key');
  }

  list(): Array<{ streamKey: string; playbackId: string; origin: string }> {
    return Object.entries(this.entries).map(([streamKey, e]) => ({ streamKey, playbackId: e.playbackId, origin: e.origin }));
  }
}
