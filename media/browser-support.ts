// Whether browsers can play a probed H.264 source as it is. MSE in Chromium, Firefox and Safari decodes the
// 8-bit 4:2:0 profiles (Constrained Baseline, Main, High) only; High 10, High 4:2:2 and High 4:4:4 sources
// (e.g. GStreamer's x264enc without caps, OBS with "I444") are skipped by the player, so they must not be
// advertised as a variant.

import type { MediaInfo } from './ts-probe.ts';

/** profile_idc values browsers decode: Baseline, Main, Extended (as Main), High. */
const BROWSER_PROFILES = new Set([66, 77, 88, 100]);

const PROFILE_NAMES: Readonly<Record<number, string>> = {
  66: 'Baseline',
  77: 'Main',
  88: 'Extended',
  100: 'High',
  110: 'High 10',
  122: 'High 4:2:2',
  244: 'High 4:4:4 Predictive',
  44: 'CAVLC 4:4:4 Intra',
};

const CHROMA_NAMES: Readonly<Record<number, string>> = { 0: '4:0:0', 1: '4:2:0', 2: '4:2:2', 3: '4:4:4' };

export function h264ProfileName(profileIdc: number): string {
  return PROFILE_NAMES[profileIdc] ?? `profile_idc ${profileIdc}`;
}

/** Why browsers cannot play this source as it is (e.g. "H.264 High 4:4:4 Predictive, 4:4:4 chroma"), or null when they can. */
export function unplayableInBrowsers(info: Pick<MediaInfo, 'videoCodec' | 'profileIdc' | 'chromaFormat' | 'bitDepth'>): string | null {
  if (info.videoCodec !== 'h264') return `${info.videoCodec} video`;
  const reasons: string[] = [];
  if (!BROWSER_PROFILES.has(info.profileIdc)) reasons.push(`H.264 ${h264ProfileName(info.profileIdc)} profile`);
  if (info.chromaFormat !== 1) reasons.push(`${CHROMA_NAMES[info.chromaFormat] ?? `chroma_format_idc ${info.chromaFormat}`} chroma`);
  if (info.bitDepth !== 8) reasons.push(`${info.bitDepth}-bit`);
  return reasons.length ? reasons.join(', ') : null;
}
