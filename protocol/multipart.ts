// multipart/mixed encoding of the renditions a transcoder returns for one segment (as Livepeer's
// transcoders answer). Hot path: one call per segment; parts are sliced, never copied.

import { randomBytes } from 'node:crypto';

export interface Part {
  headers: Record<string, string>;
  body: Buffer;
}

export function newBoundary(): string {
  return `castnet-${randomBytes(12).toString('hex')}`;
}

/** The whole body as a list of buffers, to be written in order (no concatenation of media bytes). */
export function encodeMultipart(parts: Part[], boundary: string): Buffer[] {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const head = Object.entries({ ...part.headers, 'content-length': String(part.body.length) })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    chunks.push(Buffer.from(`--${boundary}\r\n${head}\r\n`), part.body, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return chunks;
}

export function boundaryOf(contentType: string | null | undefined): string | null {
  const match = /boundary="?([^";]+)"?/i.exec(contentType ?? '');
  return match ? match[1]! : null;
}

/** Parses a body made by encodeMultipart. Each part must carry content-length. */
export function decodeMultipart(body: Buffer, boundary: string): Part[] {
  const parts: Part[] = [];
  const delimiter = Buffer.from(`--${boundary}`);
  let offset = 0;
  for (;;) {
    const start = body.indexOf(delimiter, offset);
    if (start < 0) throw new Error('multipart: missing boundary');
    offset = start + delimiter.length;
    if (body[offset] === 0x2d && body[offset + 1] === 0x2d) return parts; // closing "--"
    offset += 2; // CRLF after the boundary
    const headEnd = body.indexOf('\r\n\r\n', offset);
    if (headEnd < 0) throw new Error('multipart: truncated part headers');
    const headers: Record<string, string> = {};
    for (const line of body.subarray(offset, headEnd).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length']);
    if (!Number.isInteger(length) || length < 0) throw new Error('multipart: part without content-length');
    const bodyStart = headEnd + 4;
    if (bodyStart + length > body.length) throw new Error('multipart: truncated part body');
    parts.push({ headers, body: body.subarray(bodyStart, bodyStart + length) });
    offset = bodyStart + length;
  }
}
