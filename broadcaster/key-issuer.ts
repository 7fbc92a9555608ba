// The broadcaster's key store as a stream-key issuer (protocol/stream-key-admin.ts): what its admin routes
// answer, and what the orchestrator's dashboard calls directly when both run in one process (castnet dev).
// Keys are made by the store, so a key made here publishes at once (the store re-reads its file).

import { MAX_LISTED_KEYS, streamKeyCreated, type StreamKeyIssuer } from '../protocol/stream-key-admin.ts';
import type { StreamKeyStore } from './stream-keys.ts';

export interface StoreKeyIssuerOptions {
  keys: StreamKeyStore;
  /** OBS's Server field: `rtmp://<broadcaster>/live`. */
  rtmpServer: () => string;
  /** Where viewers watch a playback id, when known. */
  watchUrl: (playbackId: string) => string | null;
  /**
   * 'dev' in `castnet dev`: a configured key there would end dev mode's open door (any key publishes until
   * one is configured), and with it the dev keys `castnet dev` printed.
   */
  origin?: 'configured' | 'dev';
}

export function storeKeyIssuer(o: StoreKeyIssuerOptions): StreamKeyIssuer {
  return {
    async create(request) {
      const key = o.keys.add(undefined, undefined, o.origin ?? 'configured');
      if (request.record === false) o.keys.update(key.streamKey, (e) => void (e.record = false));
      return streamKeyCreated(key, o.rtmpServer(), o.watchUrl(key.playbackId));
    },
    async list() {
      // Key, playback id and creation time only: webhook secrets and playback signing keys stay in the file.
      const keys = o.keys.list().slice(-MAX_LISTED_KEYS).map((k) => ({ streamKey: k.streamKey, playbackId: k.playbackId, createdAt: k.createdAt }));
      return { server: o.rtmpServer(), keys };
    },
  };
}
