// bench/fanout's simulated viewers: live HLS players (blocking playlist reload, then the newest segment; with
// parts, as hls.js in lowLatencyMode) and, with receipts, their signed delivery receipts. `watch` runs a
// share of a step's viewers in this thread or, with more than one thread, each share in a worker thread of
// its own (this file is also the worker's entry), so on a machine with several cores the load generator does
// not queue every viewer's answer behind the others' on one event loop. Each share reports its Step back.

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Agent, get as httpGet, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { RECEIPT_ANSWER_HEADER, signReceipt, withReceiptParam, type SignedCertificate, type SignedReceipt } from '../../protocol/delivery-receipt.ts';
import type { Identity } from '../../protocol/identity.ts';
import { RECEIPT_INTERVAL_MS } from '../../player/receipts.ts';

// One keep-alive connection per viewer at most, as each player would hold its own.
const agent = new Agent({ keepAlive: true, maxSockets: 4_000 });

export function get(url: string, timeoutMs = 10_000): Promise<{ status: number; body: Buffer; receiptAnswer: string | null }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      // One chunk (most parts and playlists) is the body as it came: no copy.
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), receiptAnswer: (res.headers[RECEIPT_ANSWER_HEADER] as string | undefined) ?? null }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function postReceipt(url: string, body: string, localAddress: string, timeoutMs = 10_000): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', agent, localAddress, timeout: timeoutMs, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** A viewer's paid-delivery state with --receipts: its session and what it signed. */
export interface ViewerReceipts {
  edgeAddress: string;
  key: Identity;
  cert: SignedCertificate;
  localAddress: string;
  bytes: number;
  sentBytes: number;
  lastSent: number;
  sequence: number;
  /** Signed, to ride on the next segment request. */
  due: SignedReceipt | null;
}

const FAILURE_SAMPLES = 5;

export interface Step {
  latencies: number[];
  fetchesPerViewer: number[];
  failures: number;
  failureSamples: string[];
  /** Receipts answered 204, and the milliseconds spent signing them. */
  receiptsKept: number;
  signMs: number;
  /** Requests the viewers made (answered or not): playlists, segments or parts, receipts. */
  requests: number;
  /** --parts: each part a viewer fetched (its name, when it arrived, its size) and each playlist that listed the part it waited for. */
  partsGot: Array<{ name: string; at: number; bytes: number }>;
  playlistsGot: Array<{ name: string; at: number }>;
}

export function fail(step: Step, what: string): void {
  step.failures++;
  if (step.failureSamples.length < FAILURE_SAMPLES) step.failureSamples.push(what);
}

/** Signs a receipt when the bytes moved: POSTed when it is the session's first or `final`, else due for the next segment request. */
export async function sendReceipt(edge: string, r: ViewerReceipts, step: Step, final: boolean): Promise<void> {
  if (r.bytes === r.sentBytes) return;
  const started = performance.now();
  const signed = signReceipt({ session: r.key.address, playbackId: 'fan', relay: r.edgeAddress, bytes: r.bytes, rendition: 'source', sequence: r.sequence, at: Date.now() }, r.key.privateKey, r.cert);
  step.signMs += performance.now() - started;
  r.lastSent = Date.now();
  r.due = null;
  if (r.sentBytes > 0 && !final) {
    r.due = signed;
    return;
  }
  const body = JSON.stringify(signed);
  try {
    step.requests++;
    const res = await postReceipt(`${edge}/delivery/fan/receipts`, body, r.localAddress);
    if (res.status === 204) {
      step.receiptsKept++;
      r.sentBytes = r.bytes;
    } else fail(step, `receipt to ${edge}: ${res.status} ${res.body.toString().slice(0, 200)}`);
  } catch (err) {
    fail(step, `receipt to ${edge}: ${(err as Error).message}`);
  }
}

async function viewer(edge: string, until: number, step: Step, index: number, segmentBytes: number, receipts: ViewerReceipts | null): Promise<void> {
  const base = `${edge}/hls/fan/source`;
  let last = -1;
  while (Date.now() < until) {
    if (receipts && Date.now() - receipts.lastSent >= RECEIPT_INTERVAL_MS) await sendReceipt(edge, receipts, step, false);
    try {
      const url = last < 0 ? `${base}/index.m3u8` : `${base}/index.m3u8?_HLS_msn=${last + 1}`;
      step.requests++;
      const res = await get(url);
      const newest = Number(/(\d+)\.ts\s*$/.exec(res.body.toString('latin1'))?.[1] ?? -1);
      if (res.status !== 200 || newest < 0) {
        fail(step, `${url}: ${res.status}${newest < 0 ? ', no segment listed' : ''}`);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (newest > last) {
        const started = performance.now();
        const riding = receipts?.due ?? null;
        step.requests++;
        const seg = await get(riding ? withReceiptParam(`${base}/${newest}.ts`, riding) : `${base}/${newest}.ts`);
        if (riding) {
          receipts!.due = null;
          if (seg.receiptAnswer === 'kept') {
            step.receiptsKept++;
            receipts!.sentBytes = Math.max(receipts!.sentBytes, riding.receipt.bytes);
          } else fail(step, `receipt riding to ${edge}: ${seg.receiptAnswer}`);
        }
        if (seg.status === 200 && seg.body.length === segmentBytes) {
          step.latencies.push(performance.now() - started);
          step.fetchesPerViewer[index]!++;
          if (receipts) {
            receipts.bytes += seg.body.length;
            receipts.sequence = newest;
          }
        } else {
          fail(step, `${base}/${newest}.ts: ${seg.status}, ${seg.body.length} bytes`);
        }
        last = newest;
      }
    } catch (err) {
      fail(step, (err as Error).message);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  // Leaving: the last receipt, as a player sends on leaving.
  if (receipts) await sendReceipt(edge, receipts, step, true);
}

/**
 * --parts: one viewer's keep-alive HTTP/1.1 connection, one GET at a time, as a player holds it. Leaner than
 * node:http's client (no agent, no header objects, no streams): on one machine the simulated viewers share
 * the cores with the relays they measure, so every microsecond the generator spends is taken from the
 * relays' answers. A response needs a content-length (the relays send one); anything else is an error.
 */
export class ViewerConnection {
  private socket: Socket | null = null;
  private pending: { resolve: (r: { status: number; body: Buffer }) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | null = null;
  private chunks: Buffer[] = [];
  private held = 0;
  /** The body's length once the head is parsed (-1 before), and the head's length. */
  private bodyLength = -1;
  private headLength = 0;
  private status = 0;
  private closeAfter = false;
  private readonly host: string;
  private readonly port: number;
  private readonly hostHeader: string;

  constructor(host: string, port: number) {
    this.host = host;
    this.port = port;
    this.hostHeader = `${host}:${port}`;
  }

  get(path: string, timeoutMs = 10_000): Promise<{ status: number; body: Buffer }> {
    if (this.pending) return Promise.reject(new Error('a request is already in flight on this connection'));
    const socket = this.socket ?? this.connect();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.abort(new Error(`timeout after ${timeoutMs} ms: ${path}`)), timeoutMs);
      this.pending = { resolve, reject, timer };
      socket.write(`GET ${path} HTTP/1.1\r\nhost: ${this.hostHeader}\r\n\r\n`, 'latin1');
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private connect(): Socket {
    const socket = connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    // Events of a connection already given up (closed after an error or a timeout) are not this one's.
    socket.on('data', (c: Buffer) => socket === this.socket && this.onData(c));
    socket.on('error', (err) => socket === this.socket && this.abort(err));
    socket.on('close', () => socket === this.socket && this.abort(new Error('the relay closed the connection')));
    this.socket = socket;
    this.reset();
    return socket;
  }

  private reset(): void {
    this.chunks = [];
    this.held = 0;
    this.bodyLength = -1;
    this.headLength = 0;
    this.closeAfter = false;
  }

  private abort(err: Error): void {
    const p = this.pending;
    this.pending = null;
    this.close();
    if (p) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }

  private onData(chunk: Buffer): void {
    if (!this.pending) return this.abort(new Error(`${chunk.length} bytes with no request in flight`));
    this.chunks.push(chunk);
    this.held += chunk.length;
    if (this.bodyLength < 0) {
      const all = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks);
      this.chunks = [all];
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return this.held > 64 * 1024 ? this.abort(new Error('a response head over 64 KiB')) : undefined;
      const head = all.toString('latin1', 0, end);
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(head);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (!status || !length) return this.abort(new Error(`a response without ${status ? 'a content-length' : 'a status line'}: ${head.slice(0, 200)}`));
      this.status = Number(status[1]);
      this.bodyLength = Number(length[1]);
      this.headLength = end + 4;
      this.closeAfter = /\r\nconnection: *close/i.test(head);
    }
    const total = this.headLength + this.bodyLength;
    if (this.held < total) return;
    if (this.held > total) return this.abort(new Error(`${this.held - total} bytes past the response`));
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const body = all.subarray(this.headLength);
    const { resolve, timer } = this.pending;
    const status = this.status;
    this.pending = null;
    clearTimeout(timer);
    if (this.closeAfter) this.close();
    else this.reset();
    resolve({ status, body });
  }
}

const epochNow = () => performance.timeOrigin + performance.now();
const HINT = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(\d+)\.(\d+)\.m4s"/;

/** --parts: a low-latency viewer, as hls.js in lowLatencyMode reloads and loads. */
async function llViewer(edge: string, until: number, step: Step, index: number): Promise<void> {
  const { hostname, port } = new URL(edge);
  const connection = new ViewerConnection(hostname, Number(port));
  try {
    await llWatch(connection, step, until, index);
  } finally {
    connection.close();
  }
}

async function llWatch(connection: ViewerConnection, step: Step, until: number, index: number): Promise<void> {
  const base = '/hls/fan/source';
  let url = `${base}/index.m3u8`;
  let waitedFor: string | null = null;
  while (Date.now() < until) {
    try {
      step.requests++;
      const res = await connection.get(url);
      const at = epochNow();
      const text = res.body.toString('latin1');
      const hint = HINT.exec(text);
      if (res.status !== 200 || !hint) {
        fail(step, `${url}: ${res.status}${hint ? '' : ', no preload hint'}`);
        url = `${base}/index.m3u8`;
        waitedFor = null;
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (waitedFor !== null) {
        if (!text.includes(`URI="${waitedFor}.m4s"`)) fail(step, `${url}: the playlist does not list part ${waitedFor}`);
        else step.playlistsGot.push({ name: waitedFor, at });
        const started = performance.now();
        step.requests++;
        const part = await connection.get(`${base}/${waitedFor}.m4s`);
        if (part.status === 200) {
          step.latencies.push(performance.now() - started);
          step.partsGot.push({ name: waitedFor, at: epochNow(), bytes: part.body.length });
          step.fetchesPerViewer[index]!++;
        } else fail(step, `${base}/${waitedFor}.m4s: ${part.status}`);
      }
      // The next part: the one the playlist hints at, waited for with a blocking reload.
      waitedFor = `${hint[1]}.${hint[2]}`;
      url = `${base}/index.m3u8?_HLS_msn=${hint[1]}&_HLS_part=${hint[2]}&_HLS_skip=YES`;
    } catch (err) {
      fail(step, (err as Error).message);
      url = `${base}/index.m3u8`;
      waitedFor = null;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}


export function newStep(count: number): Step {
  return { latencies: [], fetchesPerViewer: new Array<number>(count).fill(0), failures: 0, failureSamples: [], receiptsKept: 0, signMs: 0, requests: 0, partsGot: [], playlistsGot: [] };
}

/** A step's viewers: who they are, where they watch, and until when. */
export interface Audience {
  edges: string[];
  /** How many viewers the step has; viewer i watches edges[i % edges.length] and joins at started + i/count × 2 s. */
  count: number;
  started: number;
  until: number;
  parts: boolean;
  segmentBytes: number;
  /** Per viewer, its receipt session (receipts on) or null. */
  sessions: Array<ViewerReceipts | null>;
}

/** Viewers `from` to `to` (exclusive) of the audience, in this thread. Sessions are updated in place. */
async function watchShare(a: Audience, from: number, to: number): Promise<Step> {
  const step = newStep(to - from);
  await Promise.all(
    Array.from({ length: to - from }, async (_, j) => {
      const i = from + j;
      // Viewers join over the first two seconds, as real audiences do not arrive in one instant.
      await new Promise<void>((r) => setTimeout(r, Math.max(0, a.started + (i / a.count) * 2_000 - Date.now())));
      const edge = a.edges[i % a.edges.length]!;
      await (a.parts ? llViewer(edge, a.until, step, j) : viewer(edge, a.until, step, j, a.segmentBytes, a.sessions[i] ?? null));
    }),
  );
  return step;
}

/**
 * Runs the audience in `threads` shares (1: this thread) and merges their steps in viewer order. The
 * sessions come back updated (the bytes each viewer's edge delivered and what its receipts acknowledged).
 */
export async function watch(a: Audience, threads: number): Promise<Step> {
  if (threads <= 1) return watchShare(a, 0, a.count);
  const bounds = Array.from({ length: threads + 1 }, (_, t) => Math.round((t * a.count) / threads));
  const shares = await Promise.all(
    bounds.slice(0, -1).map(
      (from, t) =>
        new Promise<{ step: Step; sessions: Array<ViewerReceipts | null> }>((resolve, reject) => {
          const to = bounds[t + 1]!;
          const worker = new Worker(new URL(import.meta.url), { workerData: { audience: { ...a, sessions: a.sessions.slice(from, to) }, from, to } });
          worker.once('message', resolve);
          worker.once('error', reject);
          worker.once('exit', (code) => reject(new Error(`viewer thread ${t} exited (${code}) without its step`)));
        }),
    ),
  );
  const step = newStep(0);
  for (const [t, share] of shares.entries()) {
    step.latencies.push(...share.step.latencies);
    step.fetchesPerViewer.push(...share.step.fetchesPerViewer);
    step.failures += share.step.failures;
    step.failureSamples.push(...share.step.failureSamples.slice(0, FAILURE_SAMPLES - step.failureSamples.length));
    step.receiptsKept += share.step.receiptsKept;
    step.signMs += share.step.signMs;
    step.requests += share.step.requests;
    step.partsGot.push(...share.step.partsGot);
    step.playlistsGot.push(...share.step.playlistsGot);
    share.sessions.forEach((s, j) => (a.sessions[bounds[t]! + j] = s));
  }
  return step;
}

/** Lets the process exit: closes this thread's keep-alive connections. */
export function closeViewers(): void {
  agent.destroy();
}

if (!isMainThread && workerData?.audience) {
  const { audience, from, to } = workerData as { audience: Audience; from: number; to: number };
  // The worker was handed its share's sessions only: index them as the whole audience's.
  const sessions = new Array<ViewerReceipts | null>(audience.count).fill(null);
  audience.sessions.forEach((s, j) => (sessions[from + j] = s));
  const step = await watchShare({ ...audience, sessions }, from, to);
  parentPort!.postMessage({ step, sessions: sessions.slice(from, to) });
  closeViewers();
}
