// Writes HLS playlists (RFC 8216) from segment metadata: the multivariant playlist and live media playlists.
// Runs per playlist request at the relay: string building only, no media access.

import type { Variant } from '../protocol/stream-record.ts';

export interface PlaylistEntry {
  seq: number;
  duration: number;
  programDateTime: string;
  discontinuity: boolean;
  /** A segment the relay never received (e.g. its transcode failed): listed with EXT-X-GAP so numbering stays right. */
  gap: boolean;
}

export interface MediaPlaylist {
  targetDuration: number;
  /** Advertise blocking playlist reload (_HLS_msn), RFC 8216bis §4.4.3.8. */
  canBlockReload?: boolean;
  discontinuitySequence: number;
  entries: PlaylistEntry[];
  ended: boolean;
}

export function writeMediaPlaylist(playlist: MediaPlaylist): string {
  const first = playlist.entries[0];
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:6',
    `#EXT-X-TARGETDURATION:${playlist.targetDuration}`,
    `#EXT-X-MEDIA-SEQUENCE:${first ? first.seq : 0}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${playlist.discontinuitySequence}`,
  ];
  if (playlist.canBlockReload) lines.push('#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES');
  for (const entry of playlist.entries) {
    if (entry.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${entry.programDateTime}`);
    lines.push(`#EXTINF:${entry.duration.toFixed(3)},`);
    if (entry.gap) lines.push('#EXT-X-GAP');
    lines.push(`${entry.seq}.ts`);
  }
  if (playlist.ended) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}

export function writeMultivariantPlaylist(variants: ReadonlyArray<Variant & { averageBandwidth?: number }>): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-INDEPENDENT-SEGMENTS'];
  for (const v of variants) {
    const attrs = [
      `BANDWIDTH=${v.bandwidth}`,
      ...(v.averageBandwidth ? [`AVERAGE-BANDWIDTH=${v.averageBandwidth}`] : []),
      `RESOLUTION=${v.width}x${v.height}`,
      `CODECS="${v.codecs}"`,
      ...(v.frameRate ? [`FRAME-RATE=${v.frameRate.toFixed(3)}`] : []),
      `NAME="${v.name}"`,
    ];
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`, `${v.name}/index.m3u8`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The media sequence numbers of the first and last segments a media playlist lists (last is first - 1 when
 * it lists none), its target duration, and whether it ended (EXT-X-ENDLIST).
 */
export function lastMediaSequence(playlist: string): { first: number; last: number; targetDuration: number; ended: boolean } {
  const first = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist)?.[1] ?? 0);
  const targetDuration = Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(playlist)?.[1] ?? 2);
  let count = 0;
  let ended = false;
  for (const line of playlist.split('\n')) {
    if (line === '#EXT-X-ENDLIST') ended = true;
    else if (line && !line.startsWith('#')) count++;
  }
  return { first, last: first + count - 1, targetDuration, ended };
}
