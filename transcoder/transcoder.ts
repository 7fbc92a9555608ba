// The transcoder role: `POST /transcode` takes one MPEG-TS segment and answers with every rendition of the
// requested ladder (multipart/mixed). It registers with the orchestrator (or gossips, learning the orchestrator's
// URL from its signed record) and advertises its encoder. It is paid through its settlement: the
// orchestrator's ledger, or the TicketBroker on chain (then tickets are bound to recent blocks and
// redeemed in batches from this node's own key, with no orchestrator in the money path). This
// file is wiring: options, components, the event bus and its listeners, routes and the lifecycle.

import type { LiveRunner } from './live-transcode.ts';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { createNodeApp, finishNodeApp, guardOf, listen, type ListeningServer } from '../http/node-app.ts';
import { HttpGuard } from '../http/http-limits.ts';
import { nodeIdentity } from '../protocol/identity.ts';
import { createMetricsRegistry } from '../observability/metrics-registry.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { startPresence, type Presence } from '../p2p/node-presence.ts';
import { AdmissionQueue } from './admission-queue.ts';
import { OrchestratorLocator } from '../p2p/orchestrator-locator.ts';
import { detectEncoder, type EncoderDetection } from './encoder-detection.ts';
import { logTranscoderEvents } from './event-log.ts';
import { countTranscoderEvents, createTranscoderMetrics } from './metrics.ts';
import { BlockClock } from '../settlement/block-clock.ts';
import { ChainSettlement } from '../settlement/chain-settlement.ts';
import { createSettlement } from '../settlement/options.ts';
import type { Settlement } from '../settlement/settlement.ts';
import { fundsView } from '../settlement/funds-view.ts';
import { PaymentReceiver, type ChainTime, type FundsLookup } from '../settlement/payment-receiver.ts';
import { RedemptionQueue } from '../settlement/redemption-queue.ts';
import { runLadder, type LadderRunner } from './segment-transcoder.ts';
import { transcodeRoutes } from './transcode-routes.ts';
import { TranscodeService } from './transcode-service.ts';
import { TranscoderEventBus } from './transcoder-events.ts';
import { defaultTranscoderOptions, type TranscoderOptions } from './options.ts';

export { defaultTranscoderOptions, type TranscoderOptions };

export interface TranscoderComponents {
  logger?: Logger;
  registry?: Registry;
  /** Where money settles; defaults to what the options name (the orchestrator's ledger, or the chain). */
  settlement?: Settlement;
  /** Where the sender's funds are learned; defaults to the settlement, through a cache of bounded age. */
  funds?: FundsLookup;
  /** Runs FFmpeg for one ladder job; tests bring a runner they control. */
  ffmpeg?: LadderRunner;
  /** Runs FFmpeg for one progressive job (POST /transcode/live); attack scripts bring their own. */
  liveFfmpeg?: LiveRunner;
}

export interface Transcoder {
  readonly url: string;
  readonly encoder: EncoderDetection;
  readonly metrics: Registry;
  readonly payments: PaymentReceiver;
  readonly redemptions: RedemptionQueue;
  readonly settlement: Settlement;
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
  const identity = nodeIdentity(options.dataDir, 'transcoder');
  const orchestrator = new OrchestratorLocator(options.orchestrator, options.bootstrap.length > 0, logger);
  const settlement =
    components.settlement ??
    createSettlement(options, () => orchestrator.url(), { redeemBatchSize: options.redeemBatchSize, confirmations: options.chainConfirmations, maxGasPriceWei: options.maxGasPriceWei });
  // One queue file per place of settlement: winners for one broker are never sent to another, or to the ledger.
  const queueFile = settlement.mode === 'chain' && options.broker ? `transcoder-redemptions-${options.broker}.sqlite` : 'transcoder-redemptions.sqlite';
  const redemptions = new RedemptionQueue(options.dataDir ? join(options.dataDir, queueFile) : ':memory:');
  const clock = settlement instanceof ChainSettlement ? new BlockClock(settlement.reader, { logger }) : null;
  // validityBlocks is read from the broker at start.
  const chainTime: ChainTime | null = clock ? { latest: () => clock.latest(), msPerBlock: () => clock.msPerBlock(), validityBlocks: 0n } : null;
  const payments = new PaymentReceiver({
    identity,
    terms: { pricePerPixel: options.pricePerPixel, faceValue: options.ticketFaceValue, ticketEv: options.ticketEv, ticketTtlMs: options.ticketTtlMs },
    funds: components.funds ?? fundsView({ settlement, recipient: identity.address, refreshMs: options.fundsRefreshMs, maxAgeMs: options.fundsMaxAgeMs }),
    queue: redemptions,
    chain: chainTime,
  });
  const admission = new AdmissionQueue({ concurrency: options.concurrency, maxQueued: options.maxQueued });
  const events = new TranscoderEventBus();
  countTranscoderEvents(events, createTranscoderMetrics(registry, { inFlight: () => admission.active, queued: () => (redemptions.closed ? {} : redemptions.counts()) }));
  logTranscoderEvents(events, logger);
  const service = new TranscodeService({ encoder: encoder.encoder, payments, admission, runner: components.ffmpeg ?? runLadder, liveRunner: components.liveFfmpeg, events });

  const app = createNodeApp({
    role: 'transcoder',
    registry,
    identity,
    guard: new HttpGuard({ role: 'transcoder', registry, limits: options }),
    health: () => ({ encoder: encoder.encoder, active: admission.active, queued: admission.queued, paymentAddress: identity.address, multiaddrs: presence?.p2p?.multiaddrs ?? [] }),
  });
  app.use(transcodeRoutes({ service, payments, events, guard: guardOf(app), maxSegmentBytes: options.maxSegmentBytes }));
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
    settlement,
    events,
    async start() {
      if (settlement instanceof ChainSettlement && clock && chainTime) {
        // Before listening: a transcoder that cannot see its broker would refuse every payment.
        chainTime.validityBlocks = (await settlement.reader.parameters()).ticketValidityBlocks;
        await clock.start();
        const gas = await settlement.reader.balance(identity.address);
        logger.info({ broker: settlement.reader.address, rpc: options.chainRpc, gasBalance: gas.toString() }, 'settling on chain');
        if (gas === 0n) logger.warn({ address: identity.address }, "this transcoder's key holds no ETH: redemptions cannot pay for gas until it does");
      }
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
      // Without an orchestrator (orchestrator: none) a ledger has nowhere to redeem; the chain always does.
      if (settlement.mode === 'chain' || components.settlement || orchestrator.url() !== null) {
        redemptions.start(
          settlement.redemptions(identity),
          options.redeemIntervalMs,
          (results) => {
            for (const r of results) events.emit('redemption', r);
          },
          (err) => logger.error({ err }, 'redemption round failed'),
        );
      }
    },
    async stop() {
      clock?.stop();
      await presence?.stop();
      await service.close();
      await server?.close();
      server = null;
      if (!redemptions.closed) await redemptions.close();
    },
  };
  return transcoder;
}
