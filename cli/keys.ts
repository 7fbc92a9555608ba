// `castnet keys add|list|remove`: the stream keys a broadcaster with this data directory accepts. Changes
// reach a running broadcaster at its next publish (it re-reads the file when it changes): an added key
// publishes without a restart, a removed key cannot start a new publish (one already live keeps running).

import { resolve } from 'node:path';
import { defaultBroadcasterOptions } from '../broadcaster/options.ts';
import { StreamKeyStore } from '../broadcaster/stream-keys.ts';
import { parseFlags } from './options.ts';
import { randomBytes } from 'node:crypto';
import { MAX_STREAM_WEBHOOKS, webhookEndpointSchema } from '../protocol/webhook.ts';
import { CastnetError } from '../protocol/errors.ts';
import { exportJWK, generateKeyPair } from 'jose';
import { MAX_PLAYBACK_KEYS, playbackKeySchema } from '../protocol/playback-policy.ts';
import { makePlaybackToken } from '../protocol/playback-token.ts';
import { loadOrCreateAdminToken } from '../http/admin-token.ts';

export const keysUsage = `Usage: castnet keys add [<stream key>] [--data-dir ./.castnet]
       castnet keys list [--data-dir ./.castnet]
       castnet keys remove <stream key or playback id> [--data-dir ./.castnet]
       castnet keys webhook <stream key or playback id> <url> [--secret <secret>]   (prints the secret)
       castnet keys webhook <stream key or playback id> --remove <url>
       castnet keys playback <stream key or playback id> --alg ES256|HS256   (signed playback: prints what your backend signs tokens with)
       castnet keys playback <stream key or playback id> --public            (anyone may watch again; keys are dropped)
       castnet keys token <playback id> [--expires 1h]                        (a playback token for testing)
       castnet keys record <stream key or playback id> on|off                  (whether the origin relay keeps a recording; on by default)
       castnet keys admin-token [--data-dir ./.castnet]   (the data directory's admin token: an orchestrator's dashboard, a broadcaster's /admin/stream-keys; made if missing)

A running broadcaster with the same data directory sees every change at its next publish: no restart.
Removing a key refuses new publishes with it; a stream already live with it keeps running until it stops.
`;

export function dataDirFrom(flags: Map<string, string | boolean>): string {
  return resolve(String(flags.get('data-dir') ?? process.env['CASTNET_DATA_DIR'] ?? defaultBroadcasterOptions.dataDir));
}

export function runKeys(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): number | Promise<number> {
  const { flags, positional } = parseFlags(argv);
  const [action, arg] = positional;
  if (flags.has('help') || flags.has('h') || !action) {
    out(keysUsage);
    return action ? 0 : 2;
  }
  if (action === 'admin-token') {
    // An orchestrator's data directory: its dashboard checks this token; a broadcaster's: its /admin/stream-keys
    // does, and an orchestrator's --key-issuer-token-file holds a copy (http/admin-token.ts).
    out(`${loadOrCreateAdminToken(dataDirFrom(flags))}\n`);
    return 0;
  }
  const store = new StreamKeyStore({ dataDir: dataDirFrom(flags), devMode: false });
  switch (action) {
    case 'add': {
      const { streamKey, playbackId } = arg ? store.add(arg) : store.add();
      out(`stream key:  ${streamKey}\nplayback id: ${playbackId}\nA running broadcaster accepts it from its next publish.\n`);
      return 0;
    }
    case 'list': {
      const keys = store.list();
      if (keys.length === 0) out(`no stream keys in ${store.path}\n`);
      for (const k of keys) out(`${k.playbackId}\t${k.origin}\t${k.createdAt}\t${k.streamKey}\n`);
      return 0;
    }
    case 'webhook':
      return webhookCommand(store, arg, positional[2], flags, out);
    case 'playback':
      return playbackCommand(store, arg, flags, out);
    case 'token':
      return tokenCommand(store, arg, flags, out);
    case 'record': {
      const setting = positional[2];
      if (!arg || (setting !== 'on' && setting !== 'off')) {
        out(keysUsage);
        return 2;
      }
      try {
        const k = store.update(arg, (e) => {
          e.record = setting === 'on';
        });
        out(`${k.playbackId}: recording ${setting} (where the origin relay records, --recording). Applies from the stream's next publish.\n`);
        return 0;
      } catch (err) {
        out(`${(err as Error).message}\n`);
        return 1;
      }
    }
    case 'remove': {
      if (!arg) {
        out(keysUsage);
        return 2;
      }
      const removed = store.remove(arg);
      if (removed.length === 0) {
        out(`no stream key or playback id "${arg}" in ${store.path}\n`);
        return 1;
      }
      for (const k of removed) out(`removed ${k.streamKey} (playback id ${k.playbackId}): new publishes with it are refused\n`);
      return 0;
    }
    default:
      out(keysUsage);
      return 2;
  }
}

/** Adds a webhook receiver to a stream key (a new secret unless one is given), or removes one. */
function webhookCommand(store: StreamKeyStore, key: string | undefined, url: string | undefined, flags: Map<string, string | boolean>, out: (s: string) => void): number {
  const remove = flags.get('remove');
  if (!key || (!url && typeof remove !== 'string')) {
    out(keysUsage);
    return 2;
  }
  try {
    if (typeof remove === 'string') {
      const k = store.update(key, (e) => {
        e.webhooks = (e.webhooks ?? []).filter((w) => w.url !== remove);
      });
      out(`${k.playbackId}: ${k.webhooks?.length ?? 0} webhook receivers left\n`);
      return 0;
    }
    const secret = typeof flags.get('secret') === 'string' ? String(flags.get('secret')) : `whsec_${randomBytes(24).toString('base64url')}`;
    const endpoint = webhookEndpointSchema.parse({ url, secret });
    const k = store.update(key, (e) => {
      const others = (e.webhooks ?? []).filter((w) => w.url !== endpoint.url);
      if (others.length >= MAX_STREAM_WEBHOOKS) throw new CastnetError('BAD_REQUEST', `a stream key names at most ${MAX_STREAM_WEBHOOKS} webhook receivers`);
      e.webhooks = [...others, endpoint];
    });
    out(`playback id: ${k.playbackId}\nwebhook:     ${endpoint.url}\nsecret:      ${secret}\nVerify each delivery's Castnet-Signature with this secret (README: Webhooks). Applies from the stream's next publish.\n`);
    return 0;
  } catch (err) {
    out(`${(err as Error).message}\n`);
    return 1;
  }
}

/** Makes a signed-playback key for a stream key (an ES256 key pair or an HS256 secret), or makes the stream public again. */
async function playbackCommand(store: StreamKeyStore, key: string | undefined, flags: Map<string, string | boolean>, out: (s: string) => void): Promise<number> {
  const alg = flags.get('alg');
  if (!key || (!flags.has('public') && alg !== 'ES256' && alg !== 'HS256')) {
    out(keysUsage);
    return 2;
  }
  try {
    if (flags.has('public')) {
      const k = store.update(key, (e) => {
        e.playback = { mode: 'public', es256: [], hs256: [] };
      });
      out(`${k.playbackId}: public (anyone may watch) from the stream's next publish\n`);
      return 0;
    }
    const kid = randomBytes(6).toString('base64url');
    let printed: string;
    if (alg === 'ES256') {
      const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
      const pub = await exportJWK(publicKey);
      const { kty, crv, x, y, d } = await exportJWK(privateKey);
      const privateJwk = { kty: kty!, crv: crv!, x: x!, y: y!, d: d!, kid, alg: 'ES256' };
      const publicJwk = playbackKeySchema.parse({ kid, kty: 'EC', crv: 'P-256', alg: 'ES256', x: pub.x, y: pub.y });
      store.update(key, (e) => {
        const p = e.playback ?? { mode: 'signed', es256: [], hs256: [] };
        if (p.es256.length >= MAX_PLAYBACK_KEYS) throw new CastnetError('BAD_REQUEST', `a stream has at most ${MAX_PLAYBACK_KEYS} ES256 playback keys`);
        e.playback = { ...p, mode: 'signed', es256: [...p.es256, { publicJwk, privateJwk }] };
      });
      printed = `private key (JWK; your backend signs ES256 tokens with it, kid ${kid}):\n${JSON.stringify(privateJwk)}\n`;
    } else {
      const secret = randomBytes(32).toString('base64url');
      store.update(key, (e) => {
        const p = e.playback ?? { mode: 'signed', es256: [], hs256: [] };
        if (p.hs256.length >= MAX_PLAYBACK_KEYS) throw new CastnetError('BAD_REQUEST', `a stream has at most ${MAX_PLAYBACK_KEYS} HS256 playback secrets`);
        e.playback = { ...p, mode: 'signed', hs256: [...p.hs256, { kid, secret }] };
      });
      printed = `HS256 secret (base64url; your backend signs tokens with it, kid ${kid}):\n${secret}\nRelays of the open network never get it: only relays you run with --playback-secrets-file verify HS256 tokens (README: Signed playback).\n`;
    }
    const k = store.list().find((e) => e.streamKey === key || e.playbackId === key)!;
    out(`playback id: ${k.playbackId}\npolicy:      signed (from the stream's next publish)\n${printed}Tokens: a JWT with sub = ${k.playbackId}, exp (required), optional nbf; try one with: castnet keys token ${k.playbackId} --expires 1h\n`);
    return 0;
  } catch (err) {
    out(`${(err as Error).message}\n`);
    return 1;
  }
}

/** `1h`, `30m`, `90s`, `2d` or plain seconds. */
function parseExpiry(text: string): number | null {
  const m = /^(\d{1,9})([smhd]?)$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as Record<string, number>)[m[2]!]!;
}

/** A token for testing, signed with the stream's newest ES256 key (else its newest HS256 secret). */
async function tokenCommand(store: StreamKeyStore, playbackId: string | undefined, flags: Map<string, string | boolean>, out: (s: string) => void): Promise<number> {
  const expires = parseExpiry(String(flags.get('expires') ?? '1h'));
  if (!playbackId || expires === null) {
    out(keysUsage);
    return 2;
  }
  const entry = store.list().find((e) => e.playbackId === playbackId || e.streamKey === playbackId);
  const es = entry?.playback?.es256.at(-1);
  const hs = entry?.playback?.hs256.at(-1);
  if (!entry || (!es && !hs)) {
    out(`no playback key for "${playbackId}" in ${store.path}: make one with castnet keys playback <stream key> --alg ES256\n`);
    return 1;
  }
  const token = await makePlaybackToken({
    playbackId: entry.playbackId,
    key: es ? { alg: 'ES256', kid: es.publicJwk.kid, privateJwk: es.privateJwk } : { alg: 'HS256', kid: hs!.kid, secret: new Uint8Array(Buffer.from(hs!.secret, 'base64url')) },
    expiresInSeconds: expires,
  });
  out(`${token}\n`);
  return 0;
}
