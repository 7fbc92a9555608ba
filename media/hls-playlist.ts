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
