// The HTML pages a relay serves around the player: the watch page and the bare embed page for an <iframe>.

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Where the player asks the orchestrator's API: which relays hold the stream (failover), and its directory entry (the publisher key segments are checked against). */
export interface PlayerApi {
  relaysUrl: string;
  directoryUrl: string;
}

const apiAttributes = (api?: PlayerApi) => (api ? ` relays="${escape(api.relaysUrl)}" directory="${escape(api.directoryUrl)}"` : '');

export function watchPage(playbackId: string, api?: PlayerApi): string {
  const id = escape(playbackId);
  const relays = apiAttributes(api);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Castnet · ${id}</title>
<style>
body { margin: 0; font: 15px system-ui, sans-serif; background: #111; color: #eee; overflow-wrap: anywhere; }
main { max-width: 1100px; margin: 0 auto; padding: 16px; }
h1 { font-size: 18px; font-weight: 600; }
code, textarea { background: #222; color: #ddd; border: 1px solid #333; border-radius: 4px; }
textarea { width: 100%; height: 56px; font: 13px monospace; box-sizing: border-box; }
a { color: #8ab4f8; }
</style>
<script type="module" src="/player/castnet-player.js"></script>
</head><body><main>
<h1>Castnet live · <code>${id}</code></h1>
<castnet-player src="/hls/${id}/master.m3u8"${relays} token-from-url></castnet-player>
<p>HLS: <a href="/hls/${id}/master.m3u8">/hls/${id}/master.m3u8</a></p>
<p>Embed this stream:</p>
<textarea readonly id="embed"></textarea>
<script>document.getElementById('embed').value = '<iframe src="' + location.origin + '/embed/${id}" width="960" height="540" allow="autoplay; fullscreen" allowfullscreen style="border:0"></iframe>';</script>
</main></body></html>`;
}

export function embedPage(playbackId: string, api?: PlayerApi): string {
  const id = escape(playbackId);
  const relays = apiAttributes(api);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Castnet · ${id}</title>
<style>html, body { margin: 0; height: 100%; background: #000; } castnet-player { width: 100%; height: 100%; aspect-ratio: auto; }</style>
<script type="module" src="/player/castnet-player.js"></script>
</head><body><castnet-player src="/hls/${id}/master.m3u8"${relays} token-from-url></castnet-player></body></html>`;
}
