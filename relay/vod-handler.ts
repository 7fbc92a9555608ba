// The recordings' viewer routes on plain node:http, beside the live fast path (hls-handler.ts):
//   /vod/<recordingId>/master.m3u8, /vod/<recordingId>/<rendition>/index.m3u8   a recording as VOD
//   /vod/<recordingId>/hls/<playbackId>/<rendition>/<seq>.ts (or .m4s)          its segments, from disk
//   /vod/<recordingId>/hls/<playbackId>/<rendition>/init-<seq>.mp4              a CMAF rendition's init segments
//   /vod/<recordingId>/thumbnail.jpg                                            its poster
//   /dvr/<playbackId>/master.m3u8, /dvr/<playbackId>/<rendition>/index.m3u8     a live stream's rewind window
//   /dvr/<playbackId>/thumbnail.jpg                                             the live thumbnail
//   /api/recordings[?playbackId=], /api/recordings/<recordingId>                 the index, as JSON
// Segments keep the publisher's signature headers and their signed names (playback id, rendition, seq) in
// the path, so the player's verifier checks a recording as it checks a live stream. Any other path under
// /vod/ or /dvr/ is refused here (400) rather than reaching a file: ids and names are checked by pattern
// before the store sees them. Per request: an index lookup and, for a segment, one file read.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { corsHeaders } from '../http/cors.ts';
import type { Logger } from '../observability/logger.ts';
import { CastnetError } from '../protocol/errors.ts';
import { ID_CHARS, RENDITION_CHARS } from '../protocol/fields.ts';
import { fail, HLS_CORS, send, THUMBNAIL_HEADERS } from './hls-handler.ts';
import type { RelayMetrics } from './metrics.ts';
import type { Recordings } from './recordings.ts';
import type { PlaybackPolicy } from '../protocol/playback-policy.ts';

const VOD_MASTER = new RegExp(`^/vod/(${ID_CHARS})/master\\.m3u8$`);
const VOD_MEDIA = new RegExp(`^/vod/(${ID_CHARS})/(${RENDITION_CHARS})/index\\.m3u8$`);
const VOD_SEGMENT = new RegExp(`^/vod/(${ID_CHARS})/hls/(${ID_CHARS})/(${RENDITION_CHARS})/(\\d{1,12})\\.(ts|m4s)$`);
const VOD_INIT = new RegExp(`^/vod/(${ID_CHARS})/hls/(${ID_CHARS})/(${RENDITION_CHARS})/init-(\\d{1,12})\\.mp4$`);
const VOD_THUMBNAIL = new RegExp(`^/vod/(${ID_CHARS})/thumbnail\\.jpg$`);
const DVR_MASTER = new RegExp(`^/dvr/(${ID_CHARS})/master\\.m3u8$`);
const DVR_MEDIA = new RegExp(`^/dvr/(${ID_CHARS})/(${RENDITION_CHARS})/index\\.m3u8$`);
const DVR_THUMBNAIL = new RegExp(`^/dvr/(${ID_CHARS})/thumbnail\\.jpg$`);
const API_ONE = new RegExp(`^/api/recordings/(${ID_CHARS})$`);

const CORS = corsHeaders(HLS_CORS);
const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
// An ended recording's playlists never change, but the recording may be deleted to stay within the bound.
const VOD_PLAYLIST_HEADERS = { ...CORS, 'content-type': PLAYLIST_TYPE, 'cache-control': 'public, max-age=60' };
const LIVE_PLAYLIST_HEADERS = { ...CORS, 'content-type': PLAYLIST_TYPE, 'cache-control': 'public, max-age=1' };
const SEGMENT_HEADERS = { ...CORS, 'content-type': 'video/mp2t', 'cache-control': 'public, max-age=86400, immutable' };
const CMAF_HEADERS = { ...SEGMENT_HEADERS, 'content-type': 'video/mp4' };
const JSON_HEADERS = { ...CORS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export interface VodHandlerOptions {
  /** Null when the relay records nothing (--recording off): every route answers why. */
  recordings: Recordings | null;
  metrics: RelayMetrics;
  logger: Logger;
  /** The live thumbnail of a stream held here. */
  thumbnail: (playbackId: string) => { bytes: Buffer; etag: string };
  /** Signed playback (relay/playback-guard.ts): the live stream's check, and the check under a recording's own policy. */
  admit: (playbackId: string, req: IncomingMessage) => Promise<void>;
  admitUnder: (playbackId: string, policy: PlaybackPolicy | null, req: IncomingMessage) => Promise<void>;
}

export function createVodHandler(options: VodHandlerOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { metrics, logger } = options;

  function recordings(): Recordings {
    if (!options.recordings) throw new CastnetError('NOT_FOUND', 'this relay records nothing (start it with --recording): no recordings and no rewind', { reason: 'recording_off' });
    return options.recordings;
  }

  function playlist(req: IncomingMessage, res: ServerResponse, kind: string, body: Buffer, ended: boolean): void {
    metrics.requests.inc({ kind, status: '200' });
    send(req, res, 200, ended ? VOD_PLAYLIST_HEADERS : LIVE_PLAYLIST_HEADERS, body);
  }

  return (req, res) => {
    const url = req.url ?? '';
    const vod = url.startsWith('/vod/');
    const dvr = url.startsWith('/dvr/');
    const api = url === '/api/recordings' || url.startsWith('/api/recordings?') || url.startsWith('/api/recordings/');
    if (!vod && !dvr && !api) return false;
    if (req.method === 'OPTIONS' && !api) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    let m: RegExpExecArray | null;
    const kind = api ? 'recordings' : vod ? 'vod' : 'dvr';
    // A recording plays under the policy it was made with; the rewind window under the live stream's too.
    const recordingAccess = async (recordingId: string) => {
      const { playbackId, policy } = recordings().access(recordingId);
      await options.admitUnder(playbackId, policy?.policy ?? null, req);
    };
    const streamAccess = async (playbackId: string) => {
      await options.admit(playbackId, req);
      await options.admitUnder(playbackId, recordings().accessOfStream(playbackId).policy?.policy ?? null, req);
    };
    const work = async (): Promise<void> => {
      if (path === '/api/recordings') {
        const playbackId = query.get('playbackId') ?? undefined;
        const body = Buffer.from(JSON.stringify(recordings().list(playbackId)));
        metrics.requests.inc({ kind, status: '200' });
        return send(req, res, 200, JSON_HEADERS, body);
      }
      if ((m = API_ONE.exec(path))) {
        const body = Buffer.from(JSON.stringify(recordings().get(m[1]!)));
        metrics.requests.inc({ kind, status: '200' });
        return send(req, res, 200, JSON_HEADERS, body);
      }
      const segmentMatch = VOD_SEGMENT.exec(path);
      const initMatch = segmentMatch ? null : VOD_INIT.exec(path);
      if (segmentMatch || initMatch) {
        const [, recordingId, playbackId, rendition, seq, ext] = (segmentMatch ?? initMatch)!;
        await recordingAccess(recordingId!);
        const segment = initMatch
          ? await recordings().initSegment(recordingId!, playbackId!, rendition!, Number(seq))
          : await recordings().segment(recordingId!, playbackId!, rendition!, Number(seq), ext === 'm4s');
        const headers = { ...(ext === 'ts' ? SEGMENT_HEADERS : CMAF_HEADERS), ...segment.headers, etag: segment.etag };
        if (req.headers['if-none-match'] === segment.etag) {
          metrics.requests.inc({ kind: 'vod_segment', status: '304' });
          res.writeHead(304, headers);
          res.end();
          return;
        }
        metrics.requests.inc({ kind: 'vod_segment', status: '200' });
        if (req.method !== 'HEAD') metrics.bytesServed.inc(segment.bytes.length);
        return send(req, res, 200, headers, segment.bytes);
      }
      if ((m = VOD_MASTER.exec(path) ?? VOD_MEDIA.exec(path) ?? VOD_THUMBNAIL.exec(path))) await recordingAccess(m[1]!);
      if ((m = DVR_MASTER.exec(path) ?? DVR_MEDIA.exec(path))) await streamAccess(m[1]!);
      if ((m = DVR_THUMBNAIL.exec(path))) await options.admit(m[1]!, req);
      if ((m = VOD_MASTER.exec(path))) return playlist(req, res, kind, recordings().vodMaster(m[1]!), recordings().get(m[1]!).state === 'ended');
      if ((m = VOD_MEDIA.exec(path))) return playlist(req, res, kind, recordings().vodMedia(m[1]!, m[2]!), recordings().get(m[1]!).state === 'ended');
      if ((m = VOD_THUMBNAIL.exec(path))) {
        const bytes = await recordings().thumbnail(m[1]!);
        metrics.requests.inc({ kind: 'thumbnail', status: '200' });
        return send(req, res, 200, THUMBNAIL_HEADERS, bytes);
      }
      if ((m = DVR_MASTER.exec(path))) return playlist(req, res, kind, recordings().dvrMaster(m[1]!), false);
      if ((m = DVR_MEDIA.exec(path))) return playlist(req, res, kind, recordings().dvrMedia(m[1]!, m[2]!), false);
      if ((m = DVR_THUMBNAIL.exec(path))) {
        const { bytes, etag } = options.thumbnail(m[1]!);
        metrics.requests.inc({ kind: 'thumbnail', status: '200' });
        return send(req, res, 200, { ...THUMBNAIL_HEADERS, etag }, bytes);
      }
      throw new CastnetError('INVALID_PATH', `not a recording path: ${api ? '/api/recordings[/<recordingId>]' : vod ? '/vod/<recordingId>/master.m3u8, /vod/<recordingId>/<rendition>/index.m3u8, /vod/<recordingId>/thumbnail.jpg' : '/dvr/<playbackId>/master.m3u8, /dvr/<playbackId>/<rendition>/index.m3u8'}`, { reason: 'bad_path' });
    };
    work().catch((err) => fail(res, err, kind, metrics, logger));
    return true;
  };
}
