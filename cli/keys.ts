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
import { loadOrCreateAdminToken } from '../http/admin-token.ts';

export const keysUsage = `Usage: castnet keys add [<stream key>] [--data-dir ./.castnet]
       castnet keys list [--data-dir ./.castnet]
       castnet keys remove <stream key or playback id> [--data-dir ./.castnet]
       castnet keys webhook <stream key or playback id> <url> [--secret <secret>]   (prints the secret)
       castnet keys webhook <stream key or playback id> --remove <url>
       castnet keys admin-token [--data-dir ./.castnet]   (the dashboard's operator token; made if missing)

A running broadcaster with the same data directory sees every change at its next publish: no restart.
Removing a key refuses new publishes with it; a stream already live with it keeps running until it stops.
`;

export function dataDirFrom(flags: Map<string, string | boolean>): string {
  return resolve(String(flags.get('data-dir') ?? process.env['CASTNET_DATA_DIR'] ?? defaultBroadcasterOptions.dataDir));
}

export function runKeys(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): number {
  const { flags, positional } = parseFlags(argv);
  const [action, arg] = positional;
  if (flags.has('help') || flags.has('h') || !action) {
    out(keysUsage);
    return action ? 0 : 2;
  }
  if (action === 'admin-token') {
    // The orchestrator's data directory: its dashboard checks this token (http/admin-token.ts).
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
