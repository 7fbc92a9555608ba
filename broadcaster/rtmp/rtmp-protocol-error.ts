// The one error type of RTMP ingest: a peer broke the protocol or one of the limits that bound what a
// connection may cost us. Its reason is the label of castnet_broadcaster_rtmp_refused_total.

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

export class RtmpProtocolError extends Error {
  readonly reason: RtmpRefusal;

  constructor(reason: RtmpRefusal, message: string) {
    super(message);
    this.name = 'RtmpProtocolError';
    this.reason = reason;
  }
}
