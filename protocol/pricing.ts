// What transcoding one segment costs: output pixels (width × height × frames, summed over renditions) ×
// the transcoder's price per pixel. Broadcaster and transcoder both count from the segment itself, so
// they agree to the pixel.

import type { RenditionSpec } from './rendition.ts';

export function outputPixels(renditions: ReadonlyArray<Pick<RenditionSpec, 'width' | 'height' | 'fps'>>, segment: { duration: number; fps: number }): bigint {
  let total = 0n;
  for (const r of renditions) {
    const fps = Math.min(r.fps, segment.fps || r.fps);
    total += BigInt(r.width * r.height) * BigInt(Math.round(segment.duration * fps));
  }
  return total;
}
