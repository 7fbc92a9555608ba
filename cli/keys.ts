// `castnet keys add|list|remove`: the stream keys a broadcaster with this data directory accepts. Changes
// reach a running broadcaster at its next publish (it re-reads the file when it changes): an added key
// publishes without a restart, a removed key cannot start a new publish (one already live keeps running).

import { resolve } from 'node:path';
import { defaultBroadcasterOptions } from '../broadcaster/options.ts';
import { StreamKeyStore } from '../broadcaster/stream-keys.ts';
import { parseFlags } from './options.ts';

export const keysUsage = `Usage: castnet keys add [<stream key>] [--data-dir ./.castnet]
       castnet keys list [--data-dir ./.castnet]
       castnet keys remove <stream key or playback id> [--data-dir ./.castnet]

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
