// The transcoder role: `POST /transcode` takes one MPEG-TS segment and answers with every rendition of the
// requested ladder (multipart/mixed). It registers with the orchestrator (or gossips, learning the orchestrator's
// URL from its signed record) and advertises its encoder. This
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
import { OrchestratorLocator } from '../p2p/orchestrator-locator.ts';
import { detectEncoder, type EncoderDetection } from './encoder-detection.ts';
import { logTranscoderEvents } from './event-log.ts';
import { countTranscoderEvents, createTranscoderMetrics } from './metrics.ts';
import { PaymentReceiver, ledgerFunds, type FundsLookup } from './payment-receiver.ts';
import { RedemptionQueue, ledgerRedeemer, type Redeemer } from './redemption-queue.ts';
import { runLadder, type LadderRunner } from './segment-transcoder.ts';
import { transcodeRoutes } from './transcode-routes.ts';
import { TranscodeService } from './transcode-service.ts';
import { TranscoderEventBus } from './transcoder-events.ts';
import { defaultTranscoderOptions, type TranscoderOptions } from './options.ts';

export { defaultTranscoderOptions, type TranscoderOptions };

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
  const orchestrator = new OrchestratorLocator(options.orchestrator, options.bootstrap.length > 0, logger);
  const redemptions = new RedemptionQueue(options.dataDir ? join(options.dataDir, 'transcoder-redemptions.sqlite') : ':memory:');
  const payments = new PaymentReceiver({
    identity,
    terms: { pricePerPixel: options.pricePerPixel, faceValue: options.ticketFaceValue, ticketEv: options.ticketEv, ticketTtlMs: options.ticketTtlMs },
    funds: components.funds ?? ledgerFunds(() => orchestrator.url()),
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
    identity,
    health: () => ({ encoder: encoder.encoder, active: admission.active, queued: admission.queued, paymentAddress: identity.address }),
  });
  app.use(transcodeRoutes({ service, payments, events, maxSegmentBytes: options.maxSegmentBytes }));
  finishNodeApp(app, logger);

  let server: ListeningServer | null = null;
  let presence: Presence | null = null;
  const transcoder: Transcoder = {
    get url() {
      return options.publicUrl || server?.url || `http://${options.host}:${options.httpPort}`;
    },
    encoder,
    metrics: registry,
    payments,
    redemptions,
    events,
    async start() {
      server = await listen(app, options.host, options.httpPort);
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
          capabilities: { encoders: [encoder.encoder], maxSessions: options.concurrency + options.maxQueued, pricePerPixel: options.pricePerPixel.toString() },
          load: { sessions: admission.active + admission.queued, inFlight: admission.active },
        }),
      }).catch(async (err: unknown) => {
        // Refused to join (no orchestrator announced itself): nothing stays listening.
        await server?.close();
        server = null;
        throw err;
      });
      // Signed by the transcoder's key like its other writes (the ledger checks the ticket itself as well).
      const redeemer = components.redeemer ?? (orchestrator.url() !== null ? ledgerRedeemer(() => orchestrator.url(), { identity }) : null);
      if (redeemer) {
        redemptions.start(redeemer, options.redeemIntervalMs, (results) => {
          for (const r of results) events.emit('redemption', r);
        });
      }
    },
    async stop() {
      await presence?.stop();
      await service.close();
      await server?.close();
      server = null;
      if (!redemptions.closed) await redemptions.close();
    },
  };
  return transcoder;
}
