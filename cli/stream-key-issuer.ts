// The dashboard's stream-key maker where a broadcaster runs beside the orchestrator (castnet dev, tests):
// the broadcaster's own key store, so a key made from the page publishes at once (the store re-reads its file).

import type { Broadcaster } from '../broadcaster/broadcaster.ts';
import { storeKeyIssuer } from '../broadcaster/key-issuer.ts';
import type { StreamKeyIssuer } from '../protocol/stream-key-admin.ts';

/**
 * `origin` 'dev' in `castnet dev`: a configured key there would end dev mode's open door (any key publishes
 * until one is configured), and with it the dev keys `castnet dev` printed.
 */
export function streamKeyIssuer(broadcaster: Broadcaster, watchBase: string | null, origin: 'configured' | 'dev' = 'configured'): StreamKeyIssuer {
  return storeKeyIssuer({ keys: broadcaster.keys, rtmpServer: () => broadcaster.rtmpUrl, watchUrl: (playbackId) => (watchBase ? `${watchBase}/watch/${playbackId}` : null), origin });
}
