// RFC 6381 codec strings for the CODECS attribute of EXT-X-STREAM-INF, from ffprobe's stream description.

interface ProbedStream {
  codec_name?: string;
  profile?: string | number;
  level?: string | number;
}

const avcProfiles: Record<string, string> = {
  'Constrained Baseline': '42e0',
  Baseline: '4200',
  Main: '4d40',
  Extended: '5800',
  High: '6400',
  'High 10': '6e00',
  'High 4:2:2': '7a00',
  'High 4:4:4 Predictive': 'f400',
};

export function avcCodecString(profile: string | undefined, level: number | undefined): string {
  const profileHex = avcProfiles[profile ?? 'High'] ?? '6400';
  const levelHex = Math.max(0, Math.min(255, level && level > 0 ? level : 31)).toString(16).padStart(2, '0');
  return `avc1.${profileHex}${levelHex}`;
}

export function codecString(video: ProbedStream, audio?: ProbedStream): string {
  const codecs: string[] = [];
  if (video.codec_name === 'h264') codecs.push(avcCodecString(String(video.profile ?? 'High'), Number(video.level)));
  else if (video.codec_name === 'hevc') codecs.push('hvc1.1.6.L93.B0');
  if (audio) {
    if (audio.codec_name === 'aac') codecs.push(String(audio.profile ?? '').startsWith('HE') ? 'mp4a.40.5' : 'mp4a.40.2');
    else if (audio.codec_name === 'mp3') codecs.push('mp4a.40.34');
    else if (audio.codec_name === 'ac3') codecs.push('ac-3');
  }
  return codecs.join(',');
}

// H.264 levels (ITU-T H.264 table A-1): max macroblocks per second and per frame.
const avcLevels: ReadonlyArray<[level: number, mbPerSecond: number, mbPerFrame: number]> = [
  [30, 40_500, 1_620],
  [31, 108_000, 3_600],
  [32, 216_000, 5_120],
  [40, 245_760, 8_192],
  [42, 522_240, 8_704],
  [50, 589_824, 22_080],
  [51, 983_040, 36_864],
  [52, 2_073_600, 36_864],
];

/** The smallest H.264 level (as level_idc, e.g. 31 for 3.1) that fits a resolution and frame rate. */
export function avcLevelFor(width: number, height: number, fps: number): number {
  const perFrame = Math.ceil(width / 16) * Math.ceil(height / 16);
  const perSecond = perFrame * Math.ceil(fps);
  return (avcLevels.find(([, s, f]) => perSecond <= s && perFrame <= f) ?? avcLevels[avcLevels.length - 1]!)[0];
}
