// The lines `castnet dev` prints about streams as they happen: live (with resolution, frame rate, ladder
// and watch URL), ended, closed, renditions missing and back, and the streamer's warnings. Follows the
// broadcaster's stream events; the log file has the detail.

import type { LiveStreams } from '../broadcaster/live-streams.ts';
import { SOURCE_RENDITION } from '../protocol/rendition.ts';

export interface DevConsoleOptions {
  /** The watch page of a playback id. */
  watchUrl: (playbackId: string) => string;
  write: (line: string) => void;
}

/** Subscribes to every stream `streams` opens from now on. */
export function followStreams(streams: LiveStreams, options: DevConsoleOptions): void {
  const { write, watchUrl } = options;
  streams.on('opened', ({ playbackId, pipeline }) => {
    // Renditions are "missing" from the first segment whose transcode is given up on until one is published again.
    let missing = false;
    const lose = (why: string) => {
      if (missing) return;
      missing = true;
      write(`! renditions missing for ${playbackId}: ${why}`);
    };
    pipeline.on('sourceProbed', ({ info, ladder }) => {
      missing = false;
      const fps = Math.round(info.fps * 100) / 100;
      const rungs = ladder.map((r) => r.name).join(',') || 'source only';
      write(`● live   ${playbackId} ${info.width}x${info.height} ${fps} fps → ${rungs}  watch: ${watchUrl(playbackId)}`);
    });
    pipeline.on('warning', ({ message }) => write(`! ${playbackId}: ${message}`));
    pipeline.on('transcodeAbandoned', ({ why }) => lose(`no transcoder could take the segment (${why})`));
    pipeline.on('transcodeFailed', ({ reason }) => {
      if (reason === 'no_transcoder') lose('no transcoder is assigned');
      else if (reason === 'backlog') lose('the transcoder is falling behind (backlog full)');
      else if (reason === 'unprobeable') lose('the segment could not be read');
    });
    pipeline.on('outputRejected', ({ rendition, transcoder }) => lose(`transcoder ${transcoder} returned a bad ${rendition}`));
    pipeline.on('segmentPublished', ({ rendition }) => {
      if (!missing || rendition === SOURCE_RENDITION) return;
      missing = false;
      write(`✓ renditions back for ${playbackId}`);
    });
  });
  streams.on('waiting', ({ playbackId }) => write(`○ ended  ${playbackId} (waiting for a reconnect)`));
  streams.on('closed', ({ playbackId }) => write(`○ closed ${playbackId}`));
}
