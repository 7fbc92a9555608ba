// Receipt traffic for the benches (issue 14): the receipts a priced relay gets from as many viewer
// sessions as a measured throughput represents at VIEWER_BITS_PER_SECOND, one receipt per session every
// RECEIPT_INTERVAL_MS, signed as players sign them (one session key and payer certificate per viewer,
// cumulative bytes). Sessions are started (their first receipt, checked in full at the relay) before
// measuring, as in a running stream, POSTed from SOURCES loopback addresses so the per-address limit does
// not answer 429 for them; while measuring, new sessions also join at a rate of one per viewer per
// SESSION_MINUTES (their first receipts cost the relay two signature recoveries each), POSTed the same way.
// The live sessions' receipts ride on segment requests as players send them (prepareRiding: one request in
// every BYTES_PER_RECEIPT of segments carries one, wrk-receipts.lua), or with `post` are POSTed paced as
// the old players did. Every answer is counted: a bench prints figures only when every POST was 204, the
// relay counted every receipt kept, and it holds each session's newest bytes.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { request, Agent } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomIdentity, type Identity } from '../../protocol/identity.ts';
import { signCertificate, signReceipt, withReceiptParam, type SignedCertificate } from '../../protocol/delivery-receipt.ts';
import { toHex } from '../../protocol/ticket.ts';
import { RECEIPT_INTERVAL_MS } from '../../player/receipts.ts';
import type { Bench } from './report.ts';

export const VIEWER_BITS_PER_SECOND = 6e6;
const SOURCES = 200;
/** A viewer's mean session: new sessions join at viewers / this per minute. */
export const SESSION_MINUTES = 10;
/** What a viewer receives between two receipts: one segment request in this many bytes of segments carries one. */
export const BYTES_PER_RECEIPT = (VIEWER_BITS_PER_SECOND / 8) * (RECEIPT_INTERVAL_MS / 1000);
/** Riding receipts prepared per run: for up to this many times the sizing run's throughput. */
const RIDING_HEADROOM = 3;

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
  /** getAll's answers by status. */
  private readonly getStatuses = new Map<number, number>();
  /** The relay's answers to receipts that rode on getAll's requests. */
  private readonly answers = new Map<string, number>();
  private readonly url: URL;
  private sent = 0;
  /** The sessions of the riding receipts prepared for the next run, in request order. */
  private riding: Session[] = [];
  private riddenTotal = 0;
  private readonly dir = mkdtempSync(join(tmpdir(), 'castnet-receipts-'));
  private readonly bytesPerSecond: number;
  private signMs = 0;
  private signed = 0;
  bodyBytes = 0;

  private readonly options: ReceiptLoadOptions;

  constructor(options: ReceiptLoadOptions, bytesPerSecond: number) {
    this.options = options;
    this.bytesPerSecond = bytesPerSecond;
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

  private sign(s: Session) {
    s.bytes += this.options.segmentBytes;
    const started = performance.now();
    const signed = signReceipt({ session: s.address, playbackId: this.options.playbackId, relay: this.options.relayAddress, bytes: s.bytes, rendition: this.options.rendition, sequence: this.options.sequence, at: Date.now() }, s.key, s.cert);
    this.signMs += performance.now() - started;
    this.signed++;
    return signed;
  }

  private body(s: Session): string {
    const body = JSON.stringify(this.sign(s));
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

  /**
   * The receipts of `seconds` of viewing as players send them: the live sessions' next receipts as
   * requests of `segmentPath` carrying one each, in a file for wrk-receipts.lua (enough for RIDING_HEADROOM
   * times the sizing throughput), and the first receipts of the sessions joining meanwhile, to POST.
   */
  prepareRiding(seconds: number, segmentPath: string, exactly?: number): { file: string; paths: number; joins: string[] } {
    const count = exactly ?? Math.ceil((this.bytesPerSecond * RIDING_HEADROOM * seconds) / BYTES_PER_RECEIPT);
    const joins = Array.from({ length: Math.ceil(this.joinsPerSecond * seconds) }, () => this.newSession());
    const live = this.sessions.filter((s) => !joins.includes(s));
    this.riding = [];
    const lines: string[] = [];
    for (let i = 0; i < count; i++) {
      const s = live[(this.sent + i) % live.length]!;
      this.riding.push(s);
      lines.push(withReceiptParam(segmentPath, this.sign(s)));
    }
    this.sent += count;
    const file = join(this.dir, 'riding.txt');
    writeFileSync(file, `${lines.join('\n')}\n`);
    return { file, paths: count, joins: joins.map((s) => this.body(s)) };
  }

  /** wrk requested the first `used` riding receipts: the sessions of the others did not sign for those bytes. */
  ridden(used: number): void {
    this.riddenTotal += used;
    for (let i = this.riding.length - 1; i >= used; i--) this.riding[i]!.bytes -= this.options.segmentBytes;
    this.riding = [];
  }

  /**
   * GETs every path (a riding receipt each, from prepareRiding, or none), `parallel` at a time from the
   * SOURCES addresses; counts statuses, and the relay's receipt answers of those that carried one.
   */
  async getAll(paths: string[], parallel = 16): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < paths.length) {
        const i = next++;
        await new Promise<void>((resolve) => {
          const req = request({ host: this.url.hostname, port: this.url.port, path: paths[i], agent: this.agents[i % SOURCES], localAddress: `127.0.1.${(i % SOURCES) + 1}` }, (res) => {
            this.getStatuses.set(res.statusCode!, (this.getStatuses.get(res.statusCode!) ?? 0) + 1);
            const answer = res.headers['castnet-receipt'];
            if (typeof answer === 'string') this.answers.set(answer, (this.answers.get(answer) ?? 0) + 1);
            res.resume();
            res.on('end', resolve);
          });
          req.on('error', () => {
            this.getStatuses.set(0, (this.getStatuses.get(0) ?? 0) + 1);
            resolve();
          });
          req.end();
        });
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  }

  /** The next receipts of `count` live sessions (no joiners), to POST. */
  preparePosts(count: number): string[] {
    const live = this.sessions.slice();
    const bodies = Array.from({ length: count }, (_, i) => this.body(live[(this.sent + i) % live.length]!));
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
    return { viewers: this.viewers, receiptsPerSecond: this.receiptsPerSecond, joinsPerSecond: this.joinsPerSecond, statuses: Object.fromEntries(this.statuses), answers: Object.fromEntries(this.answers), gets: Object.fromEntries(this.getStatuses), ridden: this.riddenTotal, sessions: this.sessions.length, signedBytes: this.sessions.reduce((n, s) => n + s.bytes, 0), bodyBytes: this.bodyBytes, msPerSignature: this.msPerSignature };
  }

  close(): void {
    for (const a of this.agents) a.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface LoadReport {
  viewers: number;
  receiptsPerSecond: number;
  joinsPerSecond: number;
  /** POST answers by status. */
  statuses: Record<string, number>;
  /** Receipts that rode on segment requests. */
  ridden: number;
  /** The relay's answers to receipts that rode on the load's own GETs (the cost probe), and those GETs' statuses. */
  answers: Record<string, number>;
  gets: Record<string, number>;
  sessions: number;
  signedBytes: number;
  bodyBytes: number;
  msPerSignature: number;
}

/**
 * Checks every POSTed receipt was answered 204, the relay counted every receipt kept (those POSTed and
 * those that rode on segment requests) and refused none, and it holds each session's newest bytes.
 */
export function checkLoad(bench: Bench, r: LoadReport, heldBytes: number | undefined, relayResults: Record<string, number>): void {
  const total = Object.values(r.statuses).reduce((a, b) => a + b, 0);
  const kept = r.statuses['204'] ?? 0;
  const answered = Object.values(r.answers).reduce((a, b) => a + b, 0);
  const keptRiding = r.answers.kept ?? 0;
  bench.check(kept === total && total > 0 && keptRiding === answered, `every POSTed receipt was kept (${kept} × 204; ${r.sessions} sessions), every riding one the load sent answered kept (${keptRiding})`, `receipt answers: ${JSON.stringify(r.statuses)}, riding: ${JSON.stringify(r.answers)}`);
  const relayKept = relayResults.kept ?? 0;
  const refused = Object.entries(relayResults).filter(([result]) => result !== 'kept');
  bench.check(relayKept === kept + r.ridden && refused.length === 0, `the relay kept every receipt (${relayKept}: ${kept} POSTed, ${r.ridden} on segment requests) and refused none`, `the relay counted ${JSON.stringify(relayResults)} for ${kept} POSTed and ${r.ridden} riding receipts`);
  bench.check(heldBytes === r.signedBytes, `the relay holds each session’s newest receipt (${r.signedBytes} bytes in all)`, `the relay holds ${heldBytes} receipt bytes, the sessions signed for ${r.signedBytes}`);
}

/** The relay's receipt results by outcome (castnet_relay_delivery_receipts_total), read from its /metrics. */
export async function relayReceiptResults(relayUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${relayUrl}/metrics`)).text();
  const results: Record<string, number> = {};
  for (const m of text.matchAll(/^castnet_relay_delivery_receipts_total\{[^}]*result="([^"]+)"[^}]*\} (\S+)$/gm)) results[m[1]!] = (results[m[1]!] ?? 0) + Number(m[2]);
  return results;
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

  /** Signs the receipts of `seconds` of viewing to ride on requests of `segmentPath` (ReceiptLoad.prepareRiding). */
  prepareRiding(seconds: number, segmentPath: string): Promise<{ file: string; paths: number }> {
    return this.ask({ prepareRiding: { seconds, segmentPath } });
  }

  /** Sends the joining sessions' first receipts prepared with the riding ones, paced. */
  sendJoins(): Promise<unknown> {
    return this.ask({ sendJoins: true });
  }

  /** Signs `count` riding receipts for requests of `segmentPath` (no joiners), for getAll({ ride: true }). */
  prepareRidingExactly(count: number, segmentPath: string): Promise<unknown> {
    return this.ask({ prepareRiding: { seconds: 0, segmentPath, exactly: count } });
  }

  /** Signs `count` live sessions' next receipts to POST (sendPosts). */
  preparePosts(count: number): Promise<unknown> {
    return this.ask({ preparePosts: count });
  }

  /** POSTs what preparePosts signed, 16 at a time, unpaced. */
  sendPosts(): Promise<unknown> {
    return this.ask({ sendPosts: true });
  }

  /** GETs `count` requests of `path` with no receipt, or (ride) the riding receipts prepared, from the sender. */
  getAll(options: { path: string; count: number } | { ride: true }): Promise<{ sent: number }> {
    return this.ask({ getAll: options });
  }

  /** How many riding receipts wrk requested. */
  ridden(used: number): Promise<unknown> {
    return this.ask({ ridden: used });
  }

  report(): Promise<LoadReport> {
    return this.ask<LoadReport>({ report: true });
  }

  close(): void {
    this.child.kill('SIGTERM');
  }
}
