// Receipt traffic for the benches (issue 14): the receipts a priced relay gets from as many viewer
// sessions as a measured throughput represents at VIEWER_BITS_PER_SECOND, one receipt per session every
// RECEIPT_INTERVAL_MS, signed as players sign them (one session key and payer certificate per viewer,
// cumulative bytes) and POSTed from SOURCES loopback addresses so the per-address limit does not answer 429
// for them. Sessions are started (their first receipt, checked in full at the relay) before measuring, as
// in a running stream; while measuring, new sessions also join at a rate of one per viewer per
// SESSION_MINUTES (their first receipts cost the relay two signature recoveries each). Every answer is
// counted: a bench prints figures only when all were 204 and the relay holds each session's newest bytes.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { request, Agent } from 'node:http';
import { randomIdentity, type Identity } from '../../protocol/identity.ts';
import { signCertificate, signReceipt, type SignedCertificate } from '../../protocol/delivery-receipt.ts';
import { toHex } from '../../protocol/ticket.ts';
import { RECEIPT_INTERVAL_MS } from '../../player/receipts.ts';
import type { Bench } from './report.ts';

export const VIEWER_BITS_PER_SECOND = 6e6;
const SOURCES = 200;
/** A viewer's mean session: new sessions join at viewers / this per minute. */
export const SESSION_MINUTES = 10;

interface Session {
  key: Uint8Array;
  address: string;
  cert: SignedCertificate;
  bytes: number;
}

export interface ReceiptLoadOptions {
  relayUrl: string;
  /** The relay's payment address, which receipts name. */
  relayAddress: string;
  payer: Identity;
  playbackId: string;
  segmentBytes: number;
  rendition: string;
  sequence: number;
}

export class ReceiptLoad {
  readonly viewers: number;
  readonly receiptsPerSecond: number;
  readonly joinsPerSecond: number;
  private readonly sessions: Session[] = [];
  private readonly agents: Agent[];
  private readonly statuses = new Map<number, number>();
  private readonly url: URL;
  private sent = 0;
  private signMs = 0;
  private signed = 0;
  bodyBytes = 0;

  private readonly options: ReceiptLoadOptions;

  constructor(options: ReceiptLoadOptions, bytesPerSecond: number) {
    this.options = options;
    this.url = new URL(options.relayUrl);
    this.viewers = Math.ceil(bytesPerSecond / (VIEWER_BITS_PER_SECOND / 8));
    this.receiptsPerSecond = this.viewers / (RECEIPT_INTERVAL_MS / 1000);
    this.joinsPerSecond = this.viewers / (SESSION_MINUTES * 60);
    this.agents = Array.from({ length: SOURCES }, () => new Agent({ keepAlive: true, maxSockets: 4 }));
  }

  private newSession(): Session {
    const id = randomIdentity();
    const now = Date.now();
    const cert = signCertificate({ playbackId: this.options.playbackId, sessionKey: id.address, payer: this.options.payer.address, issuedAt: now, expiresAt: now + 3_600_000, byteBudget: 2 ** 40 }, this.options.payer.privateKey);
    const s = { key: id.privateKey, address: id.address, cert, bytes: 0 };
    this.sessions.push(s);
    return s;
  }

  private body(s: Session): string {
    s.bytes += this.options.segmentBytes;
    const started = performance.now();
    const body = JSON.stringify(signReceipt({ session: s.address, playbackId: this.options.playbackId, relay: this.options.relayAddress, bytes: s.bytes, rendition: this.options.rendition, sequence: this.options.sequence, at: Date.now() }, s.key, s.cert));
    this.signMs += performance.now() - started;
    this.signed++;
    this.bodyBytes = body.length;
    return body;
  }

  /** Milliseconds the player's code (noble secp256k1, in Node) takes to sign one receipt. */
  get msPerSignature(): number {
    return this.signMs / Math.max(1, this.signed);
  }

  /** Every viewer's session started: its first receipt sent and kept (checked in full at the relay). */
  async start(): Promise<void> {
    const bodies = Array.from({ length: this.viewers }, () => this.body(this.newSession()));
    await this.send(bodies, Infinity, 64);
  }

  /** The receipts of `seconds` of viewing, signed now: each live session's next, and the sessions joining meanwhile. */
  prepare(seconds: number): string[] {
    const count = Math.ceil(this.receiptsPerSecond * seconds);
    const joins = Math.ceil(this.joinsPerSecond * seconds);
    const live = this.sessions.slice();
    const bodies: string[] = [];
    for (let i = 0; i < count; i++) {
      // Joiners spread evenly through the run.
      if (joins > 0 && i % Math.max(1, Math.floor(count / joins)) === 0 && bodies.length < count) bodies.push(this.body(this.newSession()));
      if (bodies.length < count) bodies.push(this.body(live[(this.sent + i) % live.length]!));
    }
    this.sent += count;
    return bodies;
  }

  /** Sends bodies at `perSecond` (Infinity: at once, `parallel` at a time), counting every answer. */
  async send(bodies: string[], perSecond = this.receiptsPerSecond, parallel = Infinity): Promise<void> {
    const started = performance.now();
    const inFlight = new Set<Promise<void>>();
    for (let next = 0; next < bodies.length; ) {
      const due = perSecond === Infinity ? bodies.length : Math.min(bodies.length, Math.floor(((performance.now() - started) / 1000) * perSecond));
      for (; next < due && inFlight.size < parallel; next++) {
        const p = this.post(bodies[next]!, next % SOURCES).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      if (inFlight.size >= parallel) await Promise.race(inFlight);
      else await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(inFlight);
  }

  private post(body: string, source: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const req = request({ host: this.url.hostname, port: this.url.port, path: `/delivery/${this.options.playbackId}/receipts`, method: 'POST', agent: this.agents[source], localAddress: `127.0.1.${source + 1}`, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        this.statuses.set(res.statusCode!, (this.statuses.get(res.statusCode!) ?? 0) + 1);
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', () => {
        this.statuses.set(0, (this.statuses.get(0) ?? 0) + 1);
        resolve();
      });
      req.end(body);
    });
  }

  /** What the sender saw: every answer's status, the sessions' signed bytes, the signing cost. */
  report(): LoadReport {
    return { viewers: this.viewers, receiptsPerSecond: this.receiptsPerSecond, joinsPerSecond: this.joinsPerSecond, statuses: Object.fromEntries(this.statuses), sessions: this.sessions.length, signedBytes: this.sessions.reduce((n, s) => n + s.bytes, 0), bodyBytes: this.bodyBytes, msPerSignature: this.msPerSignature };
  }

  close(): void {
    for (const a of this.agents) a.destroy();
  }
}

export interface LoadReport {
  viewers: number;
  receiptsPerSecond: number;
  joinsPerSecond: number;
  statuses: Record<string, number>;
  sessions: number;
  signedBytes: number;
  bodyBytes: number;
  msPerSignature: number;
}

/** Checks every receipt was answered 204 and the relay holds each session's newest bytes. */
export function checkLoad(bench: Bench, r: LoadReport, heldBytes: number | undefined): void {
  const total = Object.values(r.statuses).reduce((a, b) => a + b, 0);
  const kept = r.statuses['204'] ?? 0;
  bench.check(kept === total && total > 0, `every receipt was kept (${kept} × 204; ${r.sessions} sessions)`, `receipt answers: ${JSON.stringify(r.statuses)}`);
  bench.check(heldBytes === r.signedBytes, `the relay holds each session’s newest receipt (${r.signedBytes} bytes in all)`, `the relay holds ${heldBytes} receipt bytes, the sessions signed for ${r.signedBytes}`);
}

/** The figures every bench with --receipts prints beside its throughput ratio. */
export function loadFigures(r: LoadReport): string[] {
  const perMinute = 60_000 / RECEIPT_INTERVAL_MS;
  return [
    `${r.viewers} viewer sessions at ${VIEWER_BITS_PER_SECOND / 1e6} Mb/s: ${r.receiptsPerSecond.toFixed(0)} receipts/s, ${(r.joinsPerSecond * 60).toFixed(0)} new sessions/min (mean session ${SESSION_MINUTES} min), sent from another process`,
    `signatures per viewer per minute: ${perMinute.toFixed(0)} (one receipt per relay every ${RECEIPT_INTERVAL_MS / 1000} s); receipt body ~${r.bodyBytes} bytes → ${(((r.bodyBytes * 8) / (RECEIPT_INTERVAL_MS / 1000) / VIEWER_BITS_PER_SECOND) * 100).toFixed(4)} % of a viewer's bandwidth`,
    `player CPU: ${r.msPerSignature.toFixed(3)} ms to sign one receipt (noble secp256k1, Node) → ${(((r.msPerSignature * perMinute) / 60_000) * 100).toFixed(4)} % of one core`,
  ];
}

/** A ReceiptLoad in a child process (receipt-sender.ts): start, then per measured run prepare and send. */
export class ReceiptLoadProcess {
  private readonly child: ChildProcess;
  private readonly lines: Interface;
  private readonly waiting: Array<(line: string) => void> = [];
  viewers = 0;
  receiptsPerSecond = 0;

  private constructor() {
    this.child = spawn(process.execPath, [new URL('./receipt-sender.ts', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.child.stdout! });
    this.lines.on('line', (l) => this.waiting.shift()?.(l));
  }

  private ask<T>(cmd: unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the receipt sender exited (${code})`));
      this.child.once('exit', onExit);
      this.waiting.push((l) => {
        this.child.off('exit', onExit);
        resolve(JSON.parse(l) as T);
      });
      this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    });
  }

  /** Sized from a measured throughput; every session started (its first receipt kept) when this resolves. */
  static async start(options: ReceiptLoadOptions, bytesPerSecond: number): Promise<ReceiptLoadProcess> {
    const p = new ReceiptLoadProcess();
    const { payer, ...rest } = options;
    const sized = await p.ask<{ viewers: number; receiptsPerSecond: number }>({ start: { ...rest, payerKey: toHex(payer.privateKey), bytesPerSecond } });
    p.viewers = sized.viewers;
    p.receiptsPerSecond = sized.receiptsPerSecond;
    return p;
  }

  /** Signs the receipts of `seconds` of viewing (before a measured run). */
  prepare(seconds: number): Promise<unknown> {
    return this.ask({ prepare: seconds });
  }

  /** Sends what was prepared, paced; resolves when every answer came. */
  send(): Promise<unknown> {
    return this.ask({ send: true });
  }

  report(): Promise<LoadReport> {
    return this.ask<LoadReport>({ report: true });
  }

  close(): void {
    this.child.kill('SIGTERM');
  }
}
