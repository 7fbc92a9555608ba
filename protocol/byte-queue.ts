// Bytes arriving in chunks, taken off the front in whole records (fMP4 boxes, progressive answer frames).
// A take joins the chunks it spans once and keeps the rest as one buffer, so a record arriving in many small
// chunks costs one copy, not one per chunk. Hot path: per chunk read from a pipe or a socket.

export class ByteQueue {
  private chunks: Buffer[] = [];
  /** Bytes waiting. */
  length = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Up to the first `n` bytes, left in the queue. */
  peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n || this.chunks.length === 1) return this.chunks[0]!.subarray(0, n);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  /** The first `n` bytes (n ≤ length), taken out. */
  take(n: number): Buffer {
    const joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.length -= n;
    return out;
  }
}
