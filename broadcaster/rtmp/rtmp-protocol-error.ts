// The one error type of RTMP ingest: a peer broke the protocol or one of the limits that bound what a
// connection may cost us. Its reason is the label of castnet_broadcaster_rtmp_refused_total.

import { ReasonedError } from '../../protocol/errors.ts';

export type RtmpRefusal =
  | 'max_connections'
  | 'max_connections_per_ip'
  | 'handshake_timeout'
  | 'idle_timeout'
  | 'message_too_large'
  | 'too_many_chunk_streams'
  | 'reassembly_bytes'
  | 'second_publish'
  | 'protocol';

export class RtmpProtocolError extends ReasonedError<RtmpRefusal> {
  constructor(reason: RtmpRefusal, message: string) {
    super('RtmpProtocolError', reason, message);
  }
}
