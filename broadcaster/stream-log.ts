// The broadcaster's log lines about a stream, written from the events of its pipeline, session and
// publications; the objects themselves never log. Each takes a child logger with `playbackId` bound.

import type { Logger } from '../observability/logger.ts';
import { SOURCE_RENDITION } from '../protocol/rendition.ts';
import type { Publication } from './publication.ts';
import type { EventEmitter } from 'node:events';
import type { StreamPipelineEvents } from './stream-pipeline.ts';
import type { StreamSession } from './stream-session.ts';

/** Reads only the pipeline's events. */
export function logPipeline(pipeline: EventEmitter<StreamPipelineEvents>, log: Logger): void {
  // With no transcoder assigned every segment says so: one warning until renditions are published again.
  let unassigned = false;
  pipeline.on('segmentIngested', ({ seq, duration, bytes }) => log.debug({ seq, duration, bytes }, 'segment ingested'));
  pipeline.on('sourceProbed', ({ info, ladder }) =>
    log.info({ width: info.width, height: info.height, fps: +info.fps.toFixed(2), codecs: info.codecs, ladder: ladder.map((r) => r.name) }, 'source probed'),
  );
  pipeline.on('segmentPublished', ({ seq, rendition, bytes }) => {
    if (rendition !== SOURCE_RENDITION) unassigned = false;
    log.debug({ seq, rendition, bytes }, 'segment published');
  });
  pipeline.on('publishFailed', ({ seq, rendition, relay, err }) => {
    if (relay === null) log.warn({ seq, rendition }, 'no relay assigned: segment dropped');
    else log.warn({ seq, rendition, relay, err }, 'relay push failed');
  });
  pipeline.on('partFailed', ({ seq, part, rendition, relay, reason, err, backlog }) => {
    // The first missing part of a segment says why; the rest of that segment's parts follow from it.
    if (reason === 'after_missing') log.debug({ seq, part, rendition }, 'part not sent: an earlier part of its segment is missing');
    else log.warn({ seq, part, rendition, relay, reason, backlog, err }, 'part not published: its segment is served whole, without parts');
  });
  pipeline.on('initFailed', ({ seq, rendition, relay, err }) => log.warn({ seq, rendition, relay, err }, 'init segment push failed: the next part tries again'));
  pipeline.on('transcodeFailed', ({ seq, reason, transcoder, paymentReason, backlog, err }) => {
    switch (reason) {
      case 'backlog':
        return log.warn({ seq, backlog }, 'transcode backlog full: segment published as source only');
      case 'late':
        return log.warn({ seq, behind: backlog }, 'segment fell too far behind the stream to transcode: its renditions are gaps');
      case 'no_transcoder':
        if (unassigned) return log.debug({ seq }, 'no transcoder assigned: segment published as source only');
        unassigned = true;
        return log.warn({ seq }, 'no transcoder assigned: segments are published as source only until the orchestrator assigns one');
      case 'unprobeable':
        return log.warn({ seq, err }, 'segment could not be priced: published as source only');
      default:
        // Handled: the segment goes to the next transcoder; only its abandonment is a warning.
        return log.info({ seq, transcoder, reason: paymentReason, err }, 'transcode failed: trying another transcoder');
    }
  });
  pipeline.on('transcodeAbandoned', ({ seq, why }) => log.warn({ seq }, `no transcoder could take the segment (${why}): published as source only`));
  pipeline.on('outputVerified', ({ seq, transcoder, passed, verdicts, ms }) => {
    const summary = verdicts.map((v) => ({ rendition: v.rendition, ok: v.ok, recovered: Number(v.recovered.toFixed(3)), ssim: Number(v.ssim.toFixed(4)), reason: v.reason }));
    if (passed) log.debug({ seq, transcoder, verdicts: summary, ms }, 'transcoder output verified against the source');
    else log.warn({ seq, transcoder, verdicts: summary, ms }, 'transcoder output failed verification: not published, transcoded elsewhere, node reported');
  });
  pipeline.on('outputRejected', ({ seq, rendition, transcoder, err }) => log.warn({ seq, rendition, transcoder, err }, 'transcoder output rejected'));
  pipeline.on('paymentRefused', ({ seq, transcoder, reason, retrying }) => {
    if (retrying) log.info({ seq, transcoder, reason }, 'payment refused for stale ticket parameters: retrying with new ones');
  });
  pipeline.on('warning', ({ code, message }) => log.warn({ code }, message));
  pipeline.on('hedged', ({ seq, transcoder, deadlineMs }) => log.info({ seq, transcoder, deadlineMs }, 'transcoder past its deadline: sending the segment to another as well'));
}

export function logSession(session: StreamSession, log: Logger): void {
  session.on('reassigned', ({ assignment, changed }) => {
    if (changed) log.info({ relay: assignment.relay.url, transcoder: assignment.transcoder?.url ?? null }, 'stream reassigned');
  });
  session.on('reassignFailed', ({ err }) => log.warn({ err }, 'reassignment failed'));
  // Refreshes repeat every few seconds and the stream runs on its last assignment meanwhile: one warning
  // per outage, then debug, and a line when the orchestrator answers again.
  let refreshFailing = false;
  session.on('refreshFailed', ({ err }) => {
    if (refreshFailing) return log.debug({ err }, 'session refresh failed again');
    refreshFailing = true;
    log.warn(`session refresh failed (${err instanceof Error ? err.message : String(err)}): the stream keeps its current nodes, retrying`);
  });
  session.on('refreshed', () => {
    if (refreshFailing) log.info('session refreshed again');
    refreshFailing = false;
  });
  session.on('closeFailed', ({ err }) => log.warn({ err }, 'could not close the session'));
}

export function logPublication(publication: Publication, log: Logger): void {
  publication.on('segmentFailed', ({ file, err }) => log.error({ err, file }, 'segment could not be ingested'));
  publication.on('cutterFailed', ({ err }) => log.error({ err }, 'segment cutter failed; the publication ends'));
  publication.on('cutterDied', () => log.warn('segment cutter exited while the streamer was sending: disconnecting the streamer so its encoder reconnects'));
  publication.on('ended', ({ segments }) => log.info({ segments }, 'publish ended; waiting for a reconnect'));
}
