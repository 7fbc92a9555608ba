// The transcoder role: `POST /transcode` takes one MPEG-TS segment and answers with every rendition of the
// requested ladder (multipart/mixed). It registers with the orchestrator and advertises its encoder.

import express from 'express';
import type { Registry } from 'prom-client';
import { createNodeApp, finishNodeApp, listen, type ListeningServer } from '../http/node-app.ts';
import { assertMpegTs } from '../media/mpegts.ts';
import { encodeMultipart, newBoundary } from '../protocol/multipart.ts';
import { CastnetError } from '../protocol/errors.ts';
import { TRANSCODE_HEADERS, parseTranscodeHeaders } from '../protocol/transcode-request.ts';
import { createMetricsRegistry } from '../observability/metrics-registry.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { startPresence, type Presence } from '../p2p/node-presence.ts';
import { OrchestratorLocator } from '../p2p/orchestrator-locator.ts';
import { DEFAULT_P2P_PORTS } from '../p2p/p2p-host.ts';
import { detectEncoder, type EncoderDetection } from './encoder-detection.ts';
import type { VideoEncoder } from './ladder-command.ts';
import { createTranscoderMetrics } from './metrics.ts';
import { transcodeSegment } from './segment-transcoder.ts';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { probeTs } from '../media/ts-probe.ts';
import { identityFromPrivateKey, loadOrCreateIdentity } from '../protocol/identity.ts';
import { PARAMS_SPENT_HEADER, PAYMENT_HEADER, decodePayment } from '../protocol/payment.ts';
import { outputPixels } from '../protocol/pricing.ts';
import { ticketParamsToJson } from '../protocol/ticket-params.ts';
import { PaymentReceiver, ledgerFunds, type FundsLookup } from './payment-receiver.ts';
import { RedemptionQueue, ledgerRedeemer } from './redemption-queue.ts';

export interface TranscoderOptions {
  host: string;
  port: number;
  /** URL others reach this node at; defaults to http://host:port. */
  publicUrl: string;
  /** Orchestrator URL (registration, ledger); null: learned from its gossip with bootstrap, else http://127.0.0.1:8935; '': none. */
  orchestrator: string | null;
  encoder: 'auto' | VideoEncoder;
  /** Segments transcoded at once; more wait, and past maxQueued the node answers 503. */
  concurrency: number;
  maxQueued: number;
  maxSegmentBytes: number;
  /** Identity key and the redemption queue live here; empty: a throwaway key and an in-memory queue. */
  dataDir: string;
  /** Wei per output pixel; 0 transcodes for free and asks for no payment. */
  pricePerPixel: string;
  ticketFaceValue: string;
  /** Expected value of one ticket in wei: winProb = ticketEv / ticketFaceValue. */
  ticketEv: string;
  ticketTtlMs: number;
  redeemIntervalMs: number;
  /** Comma-separated libp2p bootstrap multiaddrs: announce over gossip instead of registering over HTTP. */
  bootstrap: string;
  p2pPort: number;
  /** Comma-separated multiaddrs peers dial this node at (behind NAT); '' derives them from publicUrl. */
  p2pAnnounce: string;
  /** With bootstrap and no orchestrator URL: how long start waits for the orchestrator's record. */
  orchestratorWaitMs: number;
  announceIntervalMs: number;
}

export const defaultTranscoderOptions: TranscoderOptions = {
  host: '127.0.0.1',
  port: 8936,
  publicUrl: '',
  orchestrator: null,
  encoder: 'auto',
  concurrency: 2,
  maxQueued: 8,
  maxSegmentBytes: 64 * 1024 * 1024,
  dataDir: './.castnet',
  pricePerPixel: '1',
  ticketFaceValue: '1000000000',
  ticketEv: '100000000',
  ticketTtlMs: 600_000,
  redeemIntervalMs: 1_000,
  bootstrap: '',
  p2pPort: DEFAULT_P2P_PORTS.transcoder,
  p2pAnnounce: '',
  orchestratorWaitMs: 15_000,
  announceIntervalMs: 2_000,
};

export interface TranscoderComponents {
  logger?: Logger;
  registry?: Registry;
  /** Where the sender's funds are learned; defaults to the orchestrator's ledger. */
  funds?: FundsLookup;
}

export interface Transcoder {
  readonly url: string;
  readonly encoder: EncoderDetection;
  readonly metrics: Registry;
  readonly payments: PaymentReceiver;
  readonly redemptions: RedemptionQueue;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function createTranscoder(init: Partial<TranscoderOptions> = {}, components: TranscoderComponents = {}): Promise<Transcoder> {
  const options = { ...defaultTranscoderOptions, ...init };
  const logger = (components.logger ?? createLogger()).child({ component: 'transcoder' });
  const registry = components.registry ?? createMetricsRegistry('transcoder');
  const metrics = createTranscoderMetrics(registry);
  const encoder = await detectEncoder(options.encoder);
  const identity = options.dataDir ? loadOrCreateIdentity(options.dataDir, 'transcoder') : identityFromPrivateKey(secp256k1.utils.randomSecretKey());
  const orchestrator = new OrchestratorLocator(options.orchestrator, options.bootstrap.trim() !== '', logger);
  const redemptions = new RedemptionQueue(options.dataDir ? join(options.dataDir, 'transcoder-redemptions.sqlite') : ':memory:');
  const payments = new PaymentReceiver({
    identity,
    terms: { pricePerPixel: BigInt(options.pricePerPixel), faceValue: BigInt(options.ticketFaceValue), ticketEv: BigInt(options.ticketEv), ticketTtlMs: options.ticketTtlMs },
    funds: components.funds ?? ledgerFunds(() => orchestrator.url()),
    queue: redemptions,
  });
  let active = 0;
  let queued = 0;
  const waiters: Array<() => void> = [];

  const app = createNodeApp({ role: 'transcoder', registry, health: () => ({ encoder: encoder.encoder, active, queued, paymentAddress: identity.address }) });
  app.get('/ticket-params', (req, res) => {
    const sender = String(req.query.sender ?? '');
    if (!/^0x[0-9a-fA-F]{40}$/.test(sender)) throw new CastnetError('BAD_REQUEST', 'sender must be a 0x-prefixed 20-byte address');
    res.json(ticketParamsToJson(payments.ticketParams(sender)));
  });
  app.post('/transcode', express.raw({ type: () => true, limit: options.maxSegmentBytes }), async (req, res, next) => {
    let params;
    try {
      params = parseTranscodeHeaders(req.headers);
      const context = { playbackId: params.playbackId, seq: params.seq };
      const segment = req.body as Buffer;
      if (!Buffer.isBuffer(segment)) throw new CastnetError('INVALID_SEGMENT', 'segment body is missing', context);
      // Checked before any CPU is spent: a truncated or foreign body is refused, not transcoded.
      assertMpegTs(segment, context);
      let paramsSpent = false;
      if (payments.pricePerPixel > 0n) {
        // Priced from the segment itself (its duration and frame rate), not from what the sender claims.
        const info = probeTs(segment);
        const price = outputPixels(params.renditions, info) * payments.pricePerPixel;
        let accepted;
        try {
          accepted = await payments.accept(decodePayment(req.headers[PAYMENT_HEADER]), price);
        } catch (err) {
          if (err instanceof CastnetError && err.code === 'PAYMENT_REQUIRED') metrics.paymentsRefused.inc({ reason: String(err.context.reason) });
          throw err;
        }
        metrics.ticketsReceived.inc(accepted.tickets);
        metrics.winningTickets.inc(accepted.winners);
        metrics.expectedValue.inc(Number(accepted.expectedValue));
        metrics.priceCharged.inc(Number(price));
        paramsSpent = accepted.winners > 0;
      }
      if (active >= options.concurrency) {
        if (queued >= options.maxQueued) throw new CastnetError('NO_NODE_AVAILABLE', 'transcoder is at capacity', context);
        queued++;
        await new Promise<void>((resolve) => waiters.push(resolve));
        queued--;
      }
      active++;
      metrics.inFlight.set(active);
      metrics.bytesIn.inc(segment.length);
      const started = performance.now();
      try {
        const outputs = await transcodeSegment(
          { segment, renditions: params.renditions, copyAudio: params.sourceAudio === 'aac', sourceFps: params.sourceFps, context },
          encoder.encoder,
        );
        const seconds = (performance.now() - started) / 1000;
        for (const o of outputs) metrics.transcodeSeconds.observe({ rendition: o.spec.name, encoder: encoder.encoder }, seconds);
        metrics.segmentsTranscoded.inc({ result: 'ok' });
        const boundary = newBoundary();
        const chunks = encodeMultipart(
          outputs.map((o) => ({
            headers: {
              'content-type': 'video/mp2t',
              [TRANSCODE_HEADERS.rendition]: o.spec.name,
            },
            body: o.bytes,
          })),
          boundary,
        );
        const length = chunks.reduce((n, c) => n + c.length, 0);
        metrics.bytesOut.inc(length);
        res.writeHead(200, { 'content-type': `multipart/mixed; boundary=${boundary}`, 'content-length': length, ...(paramsSpent ? { [PARAMS_SPENT_HEADER]: '1' } : {}) });
        for (const c of chunks) res.write(c);
        res.end();
        logger.debug({ playbackId: params.playbackId, seq: params.seq, seconds: +seconds.toFixed(3) }, 'segment transcoded');
      } finally {
        active--;
        metrics.inFlight.set(active);
        waiters.shift()?.();
      }
    } catch (err) {
      metrics.segmentsTranscoded.inc({ result: err instanceof CastnetError ? err.code : 'INTERNAL' });
      logger.warn({ playbackId: params?.playbackId, seq: params?.seq, err: (err as Error).message }, 'segment refused');
      next(err);
    }
  });
  finishNodeApp(app, logger);

  let server: ListeningServer | null = null;
  let presence: Presence | null = null;
  const transcoder: Transcoder = {
    get url() {
      return options.publicUrl || server?.url || `http://${options.host}:${options.port}`;
    },
    encoder,
    metrics: registry,
    payments,
    redemptions,
    async start() {
      server = await listen(app, options.host, options.port);
      logger.info({ url: transcoder.url, encoder: encoder.encoder, reason: encoder.reason }, 'transcoder listening');
      presence = await startPresence({
        ...options,
        role: 'transcoder',
        orchestrator,
        identity,
        logger,
        record: () => ({
          role: 'transcoder',
          url: transcoder.url,
          version: '0.1.0',
          capabilities: { encoders: [encoder.encoder], maxSessions: options.concurrency + options.maxQueued, pricePerPixel: options.pricePerPixel },
          load: { sessions: active + queued, inFlight: active },
        }),
      }).catch(async (err: unknown) => {
        // Refused to join (no orchestrator announced itself): nothing stays listening.
        await server?.close();
        server = null;
        throw err;
      });
      if (orchestrator.url()) {
        redemptions.start(ledgerRedeemer(() => orchestrator.url()), options.redeemIntervalMs, (results) => {
          for (const r of results) {
            metrics.redemptions.inc({ outcome: r.outcome });
            if (r.outcome === 'redeemed') {
              metrics.faceValueRedeemed.inc(Number(r.paid ?? 0n));
              logger.info({ ticketHash: r.ticketHash, paid: String(r.paid) }, 'winning ticket redeemed');
            } else {
              logger.warn({ ticketHash: r.ticketHash, outcome: r.outcome, err: r.error }, 'ticket redemption did not succeed');
            }
          }
        });
      }
    },
    async stop() {
      await presence?.stop();
      await server?.close();
      server = null;
      if (!redemptions.closed) await redemptions.close();
    },
  };
  return transcoder;
}
