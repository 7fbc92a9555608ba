// The transcoder role: `POST /transcode` takes one MPEG-TS segment and answers with every rendition of the
// requested ladder (multipart/mixed). It registers with the orchestrator and advertises its encoder. This
// file is wiring: options, components, the event bus and its listeners, routes and the lifecycle.

import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { createNodeApp, finishNodeApp, listen, type ListeningServer } from '../http/node-app.ts';
import { identityFromPrivateKey, loadOrCreateIdentity } from '../protocol/identity.ts';
import { createMetricsRegistry } from '../observability/metrics-registry.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { startPresence, type Presence } from '../p2p/node-presence.ts';
import { AdmissionQueue } from './admission-queue.ts';
import { detectEncoder, type EncoderDetection } from './encoder-detection.ts';
import { logTranscoderEvents } from './event-log.ts';
import type { VideoEncoder } from './ladder-command.ts';
import { countTranscoderEvents, createTranscoderMetrics } from './metrics.ts';
import { PaymentReceiver, ledgerFunds, type FundsLookup } from './payment-receiver.ts';
import { RedemptionQueue, ledgerRedeemer, type Redeemer } from './redemption-queue.ts';
import { runLadder, type LadderRunner } from './segment-transcoder.ts';
import { transcodeRoutes } from './transcode-routes.ts';
import { TranscodeService } from './transcode-service.ts';
import { TranscoderEventBus } from './transcoder-events.ts';

export interface TranscoderOptions {
  host: string;
  port: number;
  /** URL others reach this node at; defaults to http://host:port. */
  publicUrl: string;
  orchestrator: string;
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
  announceIntervalMs: number;
}

export const defaultTranscoderOptions: TranscoderOptions = {
  host: '127.0.0.1',
  port: 8936,
  publicUrl: '',
  orchestrator: 'http://127.0.0.1:8935',
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
  p2pPort: 0,
  announceIntervalMs: 2_000,
};

export interface TranscoderComponents {
  logger?: Logger;
  registry?: Registry;
  /** Where the sender's funds are learned; defaults to the orchestrator's ledger. */
  funds?: FundsLookup;
  /** Where winning tickets are redeemed; defaults to the orchestrator's ledger. */
  redeemer?: Redeemer;
  /** Runs FFmpeg for one ladder job; tests bring a runner they control. */
  ffmpeg?: LadderRunner;
}

export interface Transcoder {
  readonly url: string;
  readonly encoder: EncoderDetection;
  readonly metrics: Registry;
  readonly payments: PaymentReceiver;
  readonly redemptions: RedemptionQueue;
  /** What happens to segments and payments; metrics and logs listen here. */
  readonly events: TranscoderEventBus;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function createTranscoder(init: Partial<TranscoderOptions> = {}, components: TranscoderComponents = {}): Promise<Transcoder> {
  const options = { ...defaultTranscoderOptions, ...init };
  const logger = (components.logger ?? createLogger()).child({ component: 'transcoder' });
  const registry = components.registry ?? createMetricsRegistry('transcoder');
  const encoder = await detectEncoder(options.encoder);
  const identity = options.dataDir ? loadOrCreateIdentity(options.dataDir, 'transcoder') : identityFromPrivateKey(secp256k1.utils.randomSecretKey());
  const redemptions = new RedemptionQueue(options.dataDir ? join(options.dataDir, 'transcoder-redemptions.sqlite') : ':memory:');
  const payments = new PaymentReceiver({
    identity,
    terms: { pricePerPixel: BigInt(options.pricePerPixel), faceValue: BigInt(options.ticketFaceValue), ticketEv: BigInt(options.ticketEv), ticketTtlMs: options.ticketTtlMs },
    funds: components.funds ?? (options.orchestrator ? ledgerFunds(options.orchestrator) : async () => null),
    queue: redemptions,
  });
  const admission = new AdmissionQueue({ concurrency: options.concurrency, maxQueued: options.maxQueued });
  const events = new TranscoderEventBus();
  countTranscoderEvents(events, createTranscoderMetrics(registry, { inFlight: () => admission.active }));
  logTranscoderEvents(events, logger);
  const service = new TranscodeService({ encoder: encoder.encoder, payments, admission, runner: components.ffmpeg ?? runLadder, events });

  const app = createNodeApp({
    role: 'transcoder',
    registry,
    health: () => ({ encoder: encoder.encoder, active: admission.active, queued: admission.queued, paymentAddress: identity.address }),
  });
  app.use(transcodeRoutes({ service, payments, events, maxSegmentBytes: options.maxSegmentBytes }));
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
    events,
    async start() {
      server = await listen(app, options.host, options.port);
      logger.info({ url: transcoder.url, encoder: encoder.encoder, reason: encoder.reason }, 'transcoder listening');
      presence = await startPresence({
        ...options,
        identity,
        logger,
        record: () => ({
          role: 'transcoder',
          url: transcoder.url,
          version: '0.1.0',
          capabilities: { encoders: [encoder.encoder], maxSessions: options.concurrency + options.maxQueued, pricePerPixel: options.pricePerPixel },
          load: { sessions: admission.active + admission.queued, inFlight: admission.active },
        }),
      });
      const redeemer = components.redeemer ?? (options.orchestrator ? ledgerRedeemer(options.orchestrator) : null);
      if (redeemer) {
        redemptions.start(redeemer, options.redeemIntervalMs, (results) => {
          for (const r of results) events.emit('redemption', r);
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
