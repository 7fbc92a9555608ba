// Cheap structural check of MPEG-TS bytes (188-byte packets, each starting with the 0x47 sync byte),
// run on every segment a node receives before any FFmpeg time is spent on it. Hot path: no copies.

import { CastnetError, type ErrorContext } from '../protocol/errors.ts';

export const TS_PACKET_SIZE = 188;
const SYNC_BYTE = 0x47;

export function assertMpegTs(bytes: Uint8Array, context: ErrorContext = {}): void {
  if (bytes.length === 0) throw new CastnetError('INVALID_SEGMENT', 'segment is empty', context);
  if (bytes.length % TS_PACKET_SIZE !== 0) {
    throw new CastnetError(
      'INVALID_SEGMENT',
      `segment is truncated: ${bytes.length} bytes is not a whole number of ${TS_PACKET_SIZE}-byte MPEG-TS packets`,
      context,
    );
  }
  for (let offset = 0; offset < bytes.length; offset += TS_PACKET_SIZE) {
    if (bytes[offset] !== SYNC_BYTE) {
      throw new CastnetError('INVALID_SEGMENT', `segment is not MPEG-TS: no sync byte at offset ${offset}`, context);
    }
  }
}
