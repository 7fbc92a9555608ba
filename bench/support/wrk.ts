// One wrk load run with its totals read exactly (a Lua done() hook prints them as JSON), and the checks a
// load figure needs: no response ≥ 400 (what wrk counts as a status error), no socket error, and at least
// the expected body bytes per response, so a run against a missing URL or a failing server cannot pass
// for throughput.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BenchFailure, formatBytes, type Bench } from './report.ts';

export const WRK_PATH = '/usr/bin/wrk';
const SUMMARY_SCRIPT = new URL('./wrk-summary.lua', import.meta.url).pathname;
const RECEIPTS_SCRIPT = new URL('./wrk-receipts.lua', import.meta.url).pathname;
/** Response headers are well under this; bounds the bytes a run may read beyond its bodies. */
const HEADER_MAX_BYTES = 1024;

export interface WrkRun {
  url: string;
  connections: number;
  requests: number;
  bytes: number;
  seconds: number;
  requestsPerSec: number;
  bytesPerSec: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  /** With `receipts`: how many requests carried one. */
  receiptsSent: number;
}

/** Receipts riding on the run's requests (wrk-receipts.lua): a file of request paths, one every `bytesPerReceipt` of `segmentBytes` segments. */
export interface WrkReceipts {
  file: string;
  bytesPerReceipt: number;
  segmentBytes: number;
}

const run = promisify(execFile);

export async function wrk(url: string, options: { seconds: number; connections: number; threads?: number; receipts?: WrkReceipts }): Promise<WrkRun> {
  const r = options.receipts;
  const args = ['-t', String(options.threads ?? 1), '-c', String(options.connections), '-d', `${options.seconds}s`, '-s', r ? RECEIPTS_SCRIPT : SUMMARY_SCRIPT, url, ...(r ? ['--', r.file, String(r.bytesPerReceipt), String(r.segmentBytes)] : [])];
  const { stdout } = await run(WRK_PATH, args, { maxBuffer: 1 << 20 });
  const line = /^WRK_SUMMARY (.*)$/m.exec(stdout)?.[1];
  if (!line) throw new BenchFailure(`wrk printed no summary for ${url}:\n${stdout}`);
  const s = JSON.parse(line) as { requests: number; bytes: number; durationUs: number; connect: number; read: number; write: number; status: number; timeout: number };
  const seconds = s.durationUs / 1e6;
  return {
    url,
    connections: options.connections,
    requests: s.requests,
    bytes: s.bytes,
    seconds,
    requestsPerSec: s.requests / seconds,
    bytesPerSec: s.bytes / seconds,
    errors: { connect: s.connect, read: s.read, write: s.write, status: s.status, timeout: s.timeout },
    receiptsSent: Number(/^WRK_RECEIPTS (\d+)$/m.exec(stdout)?.[1] ?? 0),
  };
}

/** Checks a run served `bodyBytes` per response without error (see the file header). */
export function checkWrkRun(bench: Bench, label: string, r: WrkRun, bodyBytes: number): void {
  const socketErrors = r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout;
  const min = r.requests * bodyBytes;
  // wrk also counts bytes of responses still in flight when the run ends: at most one per connection.
  const max = (r.requests + r.connections) * (bodyBytes + HEADER_MAX_BYTES);
  bench.check(
    r.requests > 0 && r.errors.status === 0 && socketErrors === 0 && r.bytes >= min && r.bytes <= max,
    `${label}: ${r.requests} responses, 0 with status ≥ 400, 0 socket errors, ${formatBytes(r.bytes)} read for ${r.requests} × ${bodyBytes} B bodies`,
    `${label}: ${r.requests} responses, ${r.errors.status} with status ≥ 400, socket errors ${JSON.stringify(r.errors)}, ${r.bytes} bytes read where ${min}–${max} were expected (${r.url})`,
  );
}

/** Fetches `url` once and checks it answers 200 with exactly `expected`. */
export async function checkServes(bench: Bench, label: string, url: string, expected: Uint8Array): Promise<void> {
  const res = await fetch(url);
  const body = Buffer.from(await res.arrayBuffer());
  bench.check(
    res.status === 200 && body.equals(expected),
    `${label}: ${url} answers 200 with the expected ${expected.length} bytes`,
    `${label}: ${url} answered ${res.status} with ${body.length} bytes, not 200 with the expected ${expected.length}`,
  );
}
