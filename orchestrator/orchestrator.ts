// The orchestrator role, wired: node registry (with URL proofs, admission and reputation), stream sessions
// (which transcoder and relay serve each stream, owned by the broadcaster key that opened them) and the
// embedded ledger; their HTTP API (public reads in api-routes.ts, signed writes in write-routes.ts and
// ledger-routes.ts, behind signed-writes.ts), gossiped node records and its own gossiped URL record, and
// the logs and metrics of their events. It never carries video. With --settlement chain it holds no money
// at all: there is no ledger, and the funds and earnings it reads (for failure reports and /api/nodes)
// come from the TicketBroker's events.

import express from 'express';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { cors } from '../http/cors.ts';
import { createNodeApp, finishNodeApp, listen, type ListeningServer } from '../http/node-app.ts';
import { HttpGuard } from '../http/http-limits.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { createMetricsRegistry } from '../observability/metrics-registry.ts';
import { startOrchestratorPresence, type OrchestratorPresence } from '../p2p/orchestrator-presence.ts';
import type { P2pHost } from '../p2p/p2p-host.ts';
import { nodeIdentity, type Identity } from '../protocol/identity.ts';
import { CastnetError } from '../protocol/errors.ts';
import { RequestVerifier } from '../protocol/signed-request.ts';
import { outboundFetch, type Fetch } from '../http/outbound-fetch.ts';
import { openAnnouncement, registrationOf } from '../protocol/node-announcement.ts';
import { apiRoutes } from './api-routes.ts';
import { BrokerEvents } from '../settlement/broker-events.ts';
import { ChainSettlement } from '../settlement/chain-settlement.ts';
import { Ledger } from './ledger.ts';
import { ledgerRoutes } from './ledger-routes.ts';
import { createOrchestratorMetrics, type OrchestratorMetrics } from './metrics.ts';
import { NodeRegistry } from './node-registry.ts';
import { NodeReputation } from './node-reputation.ts';
import { RateLimiter } from '../http/rate-limiter.ts';
import { signedWrites, signerOf } from '../http/signed-writes.ts';
import { UrlProver } from './url-prover.ts';
import { writeRoutes } from './write-routes.ts';
import { CapacityPriceScheduler, type Scheduler } from './scheduler.ts';
import { StreamSessions } from './stream-sessions.ts';
import { StreamLifecycle } from './stream-lifecycle.ts';
import { WebhookQueue } from './webhook-queue.ts';
import { webhookRoutes } from './webhook-routes.ts';
import { Webhooks } from './webhooks.ts';
import { defaultOrchestratorOptions, type OrchestratorOptions } from './options.ts';
import { observeOrchestrator } from './event-log.ts';
import { AdminTokenGate, loadOrCreateAdminToken, readAdminTokenFile } from '../http/admin-token.ts';
import { DashboardEvents } from './dashboard-events.ts';
import { DashboardHub, defaultDashboardHubOptions, type DashboardHubOptions } from './dashboard-hub.ts';
import { dashboardRoutes } from './dashboard-routes.ts';
import type { StreamKeyIssuer } from '../protocol/stream-key-admin.ts';
import { StreamKeyAdminClient } from '../protocol/stream-key-admin-client.ts';
import { dashboardSnapshot } from './dashboard-snapshot.ts';
import type { SessionRequest } from '../protocol/stream-record.ts';

export { defaultOrchestratorOptions, type OrchestratorOptions };

export interface OrchestratorComponents {
  logger?: Logger;
  registry?: Registry;
  scheduler?: Scheduler;
  ledger?: Ledger;
  now?: () => number;
  /** The fetch URL challenges go out with (through the outbound policy); the global fetch by default. */
  fetch?: Fetch;
  /** The dashboard's live feed: tick, heartbeat and per-viewer buffer (the viewer cap is an option). */
  dashboard?: Partial<Omit<DashboardHubOptions, 'snapshot' | 'maxSubscribers'>>;
}

export interface Orchestrator {
  readonly url: string;
  readonly nodes: NodeRegistry;
  /** The embedded ledger; null when the network settles on chain. */
  readonly ledger: Ledger | null;
  /** On chain: what the broker's events say each address holds, earned and paid. */
  readonly chainEvents: BrokerEvents | null;
  readonly reputation: NodeReputation;
  /** Each stream's idle → live → ended, persisted with the data directory. */
  readonly lifecycle: StreamLifecycle;
  /** Which events go to which receivers; `emit` queues one (recording.ready comes from the recorder). */
  readonly webhooks: Webhooks;
  /** The persisted delivery queue and its log. */
  readonly webhookQueue: WebhookQueue;
  /** The operator's key (`<data-dir>/keys/operator.key`, or a throwaway one without a data directory): signs deposits and admission changes. */
  readonly operator: Identity;
  /** Where peers reach this orchestrator's libp2p host (empty without one). */
  readonly multiaddrs: string[];
  /** The operator's bearer token for the dashboard's stream-key routes (`<data-dir>/keys/admin-token`, 0600). */
  readonly adminToken: string;
  /** The dashboard's live feed (its subscribers, the slow ones it dropped). */
  readonly dashboard: DashboardHub;
  /** Lets the dashboard make stream keys: the broadcaster's key store, where one runs beside this orchestrator (replaces --key-issuer-url's). */
  attachStreamKeys(issuer: StreamKeyIssuer | null): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function createOrchestrator(init: Partial<OrchestratorOptions> = {}, components: OrchestratorComponents = {}): Promise<Orchestrator> {
  const options = { ...defaultOrchestratorOptions, ...init };
  // A broadcaster elsewhere makes the dashboard's keys when one is configured (castnet dev attaches its own);
  // its token file is read first, so a wrong one stops the start before anything is opened.
  const configuredKeyIssuer = remoteKeyIssuer(options, components.fetch);
  const logger = (components.logger ?? createLogger()).child({ component: 'orchestrator' });
  const registry = components.registry ?? createMetricsRegistry('orchestrator');
  const metrics = createOrchestratorMetrics(registry);
  const now = components.now ?? Date.now;
  const scheduler = components.scheduler ?? new CapacityPriceScheduler();
  const reputation = new NodeReputation({ path: options.dataDir ? join(options.dataDir, 'nodes.sqlite') : ':memory:', admission: options.admission, banMs: options.banMs, banPoints: options.banPoints, now });
  const prover = new UrlProver({ fetch: outboundFetch({ allowPrivate: options.allowPrivateNodes }, components.fetch) });
  const nodes = new NodeRegistry({
    timeoutMs: options.nodeTimeoutMs,
    now,
    proveUrl: (url, address) => prover.prove(url, address),
    admission: reputation,
    allowPrivate: options.allowPrivateNodes,
    limits: { maxNodes: options.maxNodes, maxNodesPerSource: options.maxNodesPerSource, newNodesPerMinute: options.newNodesPerMinute },
  });
  const onChain = options.settlement === 'chain';
  const ledger = onChain ? null : (components.ledger ?? new Ledger(options.dataDir ? join(options.dataDir, 'ledger.sqlite') : ':memory:'));
  const chain = onChain ? new ChainSettlement({ rpcUrl: options.chainRpc!, broker: options.broker! }) : null;
  const chainEvents = chain ? new BrokerEvents(chain.reader, { fromBlock: BigInt(options.chainFromBlock), logger }) : null;
  // A failure report weighs on a node only from a broadcaster with funds: keys are free, deposits are not.
  const funded = (owner: string) => {
    const a = chainEvents ? chainEvents.totalsOf(owner) : ledger!.account(owner);
    return a.deposit + a.reserve > 0n;
  };
  const earned = (address: string) => (chainEvents ? chainEvents.totalsOf(address).earned : ledger!.account(address).earned);
  const streams = new StreamSessions({ nodes, scheduler, ttlMs: options.streamTtlMs, transcodersPerStream: options.transcodersPerStream, maxStreamsPerKey: options.maxStreamsPerKey, countsReports: funded, now });
  const lifecycle = new StreamLifecycle({ path: options.dataDir ? join(options.dataDir, 'streams.sqlite') : ':memory:', now });
  const unfollow = followSessions(streams, lifecycle, options.streamTtlMs, now);
  // Receivers are the streamers' own URLs: reached under the outbound policy, like other people's nodes.
  const webhookQueue = new WebhookQueue({
    path: options.dataDir ? join(options.dataDir, 'webhooks.sqlite') : ':memory:',
    fetch: outboundFetch({ allowPrivate: options.allowPrivateNodes }, components.fetch),
    logger,
    retryBaseMs: options.webhookRetryMs,
    maxAttempts: options.webhookMaxAttempts,
    now,
  });
  const webhooks = new Webhooks({ queue: webhookQueue, lifecycle, streams, nodes, global: options.webhookSecret ? options.webhookUrls.map((url) => ({ url, secret: options.webhookSecret! })) : [], now });
  // The operator's key lives beside the nodes' keys; more operator addresses may be named in the options.
  const operator = nodeIdentity(options.dataDir, 'operator');
  const operators = [...new Set([operator.address, ...options.operators.map((a) => a.toLowerCase())])];
  const requireOperator = (signer: string, what: string) => {
    if (!operators.includes(signer)) throw new CastnetError('FORBIDDEN', `only the operator may ${what}: sign with ${options.dataDir ? `${join(options.dataDir, 'keys', 'operator.key')}` : 'the operator key'} (castnet deposit and castnet nodes do)`, { reason: 'not_operator' });
  };
  const unreact = connectReputation({ nodes, streams, reputation });
  // After the reactions, so a failure report's log line carries the score it left.
  const unobserve = observeOrchestrator({ nodes, streams, ledger, reputation, metrics, logger });

  function sweep(): void {
    nodes.sweep();
    streams.expire();
    unfollow.sweep();
    metrics.activeStreams.set(streams.size);
    for (const role of ['transcoder', 'relay'] as const) metrics.nodes.set({ role }, nodes.list(role).length);
    const states: Record<string, number> = { 'pending-proof': 0, active: 0, unproven: 0, banned: 0 };
    for (const n of nodes.list()) states[nodes.status(n.id)!.state]!++;
    for (const [state, n] of Object.entries(states)) metrics.nodeStates.set({ state }, n);
  }

  const guard = new HttpGuard({ role: 'orchestrator', registry, limits: options });
  const app = createNodeApp({ role: 'orchestrator', registry, guard, health: () => ({ nodes: nodes.list().length, streams: streams.size, multiaddrs: p2p?.multiaddrs ?? [] }) });
  const verifier = new RequestVerifier({ now });
  const writeLimiter = new RateLimiter({ ratePerSecond: options.writesPerSecond, burst: options.writesPerSecond * 4, now });
  app.use('/api', cors(), ...signedWrites({ verifier, limiter: writeLimiter, guard, maxBodyBytes: options.maxWriteBytes }));
  // Where money settles is public: nodes and wallets read it to check they agree with the network.
  app.get('/api/settlement', (_req, res) => {
    res.json(chain ? { mode: 'chain', broker: chain.reader.address, chainRpc: options.chainRpc, syncedToBlock: chainEvents!.syncedTo.toString() } : { mode: 'ledger', ledger: '/api/ledger' });
  });
  if (ledger) app.use('/api/ledger', ledgerRoutes(ledger, (res) => requireOperator(signerOf(res, 'a deposit'), 'deposit: balances are minted by the operator alone')));
  else {
    app.use('/api/ledger', () => {
      throw new CastnetError('NOT_FOUND', `this network settles on chain, not at an orchestrator's ledger: TicketBroker ${chain!.reader.address} (castnet deposit/wallet/withdraw --settlement chain)`);
    });
  }
  app.use('/api', webhookRoutes({ queue: webhookQueue, webhooks, lifecycle }));
  app.use('/api', apiRoutes({ nodes, streams, lifecycle, earned, reputation, operators, sweep }));
  app.use('/api', writeRoutes({ nodes, streams, reputation, heartbeatIntervalMs: options.heartbeatIntervalMs, requireOperator, sweep }));
  app.use('/api', countRefusedWrites(metrics, logger));
  const dashboardEvents = new DashboardEvents({ nodes, streams, lifecycle, reputation, ledger, webhookQueue, now });
  let keyIssuer: StreamKeyIssuer | null = configuredKeyIssuer ? countedKeyIssuer(configuredKeyIssuer, metrics) : null;
  const snapshot = () => dashboardSnapshot({ nodes, streams, lifecycle, reputation, earned, sweep, ledger, webhookQueue, events: dashboardEvents, streamKeys: () => keyIssuer !== null });
  const hub = new DashboardHub({ ...defaultDashboardHubOptions, ...components.dashboard, maxSubscribers: options.dashboardMaxViewers, snapshot });
  const adminToken = loadOrCreateAdminToken(options.dataDir);
  // Every admin request counts, right or wrong: guessing is bounded to about one a second per address.
  const gate = new AdminTokenGate(adminToken, new RateLimiter({ ratePerSecond: 1, burst: 10, now }));
  app.use(dashboardRoutes({ hub, snapshot, gate, guard, issuer: () => keyIssuer }));
  finishNodeApp(app, logger);

  let server: ListeningServer | null = null;
  let sweeper: NodeJS.Timeout | null = null;
  let p2p: P2pHost | null = null;
  let presence: OrchestratorPresence | null = null;

  const onAnnouncement = announcementIntake({ nodes, metrics, logger, now, maxAgeMs: options.announcementMaxAgeMs });

  const orchestrator: Orchestrator = {
    get url() {
      return options.publicUrl ?? server?.url ?? `http://${options.host}:${options.httpPort}`;
    },
    nodes,
    ledger,
    chainEvents,
    reputation,
    lifecycle,
    webhooks,
    webhookQueue,
    operator,
    get multiaddrs() {
      return p2p?.multiaddrs ?? [];
    },
    adminToken,
    dashboard: hub,
    attachStreamKeys(issuer) {
      keyIssuer = issuer;
    },
    async start() {
      if (chain) {
        await chain.reader.parameters(); // refuses to start when there is no broker at the address
        await chainEvents!.sync();
        chainEvents!.start();
        logger.info({ broker: chain.reader.address, rpc: options.chainRpc }, 'network settles on chain');
      }
      server = await listen(app, options.host, options.httpPort);
      if (options.p2p) {
        // Its record is signed by its own key (kept beside the nodes' keys), so nodes follow one orchestrator.
        const identity = nodeIdentity(options.dataDir, 'orchestrator');
        presence = await startOrchestratorPresence({ ...options, url: () => orchestrator.url, identity, onAnnouncement, logger });
        p2p = presence.p2p;
      }
      webhookQueue.start();
      sweeper = setInterval(sweep, Math.max(500, options.heartbeatIntervalMs));
      sweeper.unref();
      logger.info({ url: server.url }, 'orchestrator listening');
    },
    async stop() {
      if (sweeper) clearInterval(sweeper);
      // Event streams never end on their own: closed first, so the server's close does not wait on them.
      hub.close();
      dashboardEvents.close();
      await presence?.stop();
      await server?.close();
      server = null;
      unobserve();
      unreact();
      unfollow.stop();
      webhooks.close();
      await webhookQueue.close();
      lifecycle.close();
      await chainEvents?.stop();
      reputation.close();
      if (ledger && !components.ledger) ledger.close();
    },
  };
  return orchestrator;
}

/**
 * The broadcaster's admin routes at --key-issuer-url, with the token read once from --key-issuer-token-file.
 * The operator named that URL: it may be private (a broadcaster on the LAN), but redirects are not followed,
 * so the token goes nowhere else.
 */
function remoteKeyIssuer(options: OrchestratorOptions, fetch: Fetch | undefined): StreamKeyIssuer | null {
  if (!options.keyIssuerUrl) return null;
  if (!options.keyIssuerTokenFile) throw new CastnetError('BAD_REQUEST', '--key-issuer-url needs --key-issuer-token-file');
  const baseUrl = options.keyIssuerUrl;
  return new StreamKeyAdminClient({
    baseUrl,
    token: readAdminTokenFile(options.keyIssuerTokenFile),
    timeoutMs: options.keyIssuerTimeoutMs,
    fetch: outboundFetch({ allowPrivate: options.allowPrivateNodes, trustedOrigins: [new URL(baseUrl).origin] }, fetch),
  });
}

/** Every call to a remote key issuer counted by its result (the refusal's reason). */
function countedKeyIssuer(issuer: StreamKeyIssuer, metrics: OrchestratorMetrics): StreamKeyIssuer {
  const counted = async <T>(call: 'create' | 'list', run: () => Promise<T>): Promise<T> => {
    try {
      const answer = await run();
      metrics.keyIssuerCalls.inc({ call, result: 'ok' });
      return answer;
    } catch (err) {
      metrics.keyIssuerCalls.inc({ call, result: err instanceof CastnetError && typeof err.context.reason === 'string' ? err.context.reason : 'error' });
      throw err;
    }
  };
  return { create: (request) => counted('create', () => issuer.create(request)), list: () => counted('list', () => issuer.list()) };
}

/**
 * The lifecycle follows the sessions: each open or refresh, each close and lapse. A stream the lifecycle
 * holds as live with no session (the orchestrator restarted and its broadcaster never came back) ends once
 * a session TTL has passed since the start without a refresh.
 */
function followSessions(streams: StreamSessions, lifecycle: StreamLifecycle, ttlMs: number, now: () => number): { sweep(): void; stop(): void } {
  const bootAt = now();
  const onOpened = (request: SessionRequest, owner: string) => lifecycle.observe(request, owner, streams.get(request.playbackId)?.relayId ?? null);
  const onEnded = (playbackId: string) => lifecycle.end(playbackId, 'closed');
  const onExpired = (playbackId: string) => lifecycle.end(playbackId, 'expired');
  streams.on('opened', onOpened).on('ended', onEnded).on('expired', onExpired);
  return {
    sweep() {
      if (now() - bootAt < ttlMs) return;
      for (const r of lifecycle.unended()) if (!streams.get(r.playbackId)) lifecycle.end(r.playbackId, 'expired');
    },
    stop() {
      streams.off('opened', onOpened).off('ended', onEnded).off('expired', onExpired);
    },
  };
}

/**
 * What the domain objects do to each other: a counted failure report weighs on the node's reputation; a ban,
 * or the operator's deny list, takes the node off the schedule, and the allow list puts it back. Returns
 * the function that disconnects them.
 */
function connectReputation(o: { nodes: NodeRegistry; streams: StreamSessions; reputation: NodeReputation }): () => void {
  const { nodes, streams, reputation } = o;
  const onFailureReported = (r: { node: string; reason: string; counted: boolean }) => {
    if (r.counted) reputation.report(r.node, r.reason);
  };
  const onBanned = (b: { address: string; reason: string }) => nodes.ban(b.address, b.reason);
  const onAdmission = (c: { address: string; list: string | null }) => {
    if (c.list === 'deny') nodes.ban(c.address, 'denied by the operator');
    else if (c.list === 'allow') nodes.unban(c.address);
  };
  streams.on('failureReported', onFailureReported);
  reputation.on('banned', onBanned).on('admissionChanged', onAdmission);
  return () => {
    streams.off('failureReported', onFailureReported);
    reputation.off('banned', onBanned).off('admissionChanged', onAdmission);
  };
}

/** Every refused write counted by its reason (the error's `reason`, else its code), and logged at debug. */
function countRefusedWrites(metrics: OrchestratorMetrics, logger: Logger): express.ErrorRequestHandler {
  return (err: unknown, req, _res, next) => {
    if (err instanceof CastnetError && req.method !== 'GET') {
      const reason = typeof err.context.reason === 'string' ? err.context.reason : err.code.toLowerCase();
      metrics.refused.inc({ reason });
      // Debug, not info: a flood of refusals must not become a flood of log lines; the counter tells.
      logger.debug({ reason, path: req.path, source: req.socket.remoteAddress, err }, 'write refused');
    }
    next(err);
  };
}

/**
 * Gossiped node records into the registry: each opened (signature, age, version) and registered as an HTTP
 * registration would be, every outcome counted by its reason.
 */
function announcementIntake(o: { nodes: NodeRegistry; metrics: OrchestratorMetrics; logger: Logger; now: () => number; maxAgeMs: number }): (data: Uint8Array) => void {
  const { nodes, metrics, logger } = o;
  return (data) => {
    const opened = openAnnouncement(data, o.now(), o.maxAgeMs);
    if (typeof opened === 'string') {
      metrics.announcements.inc({ result: opened });
      logger.debug({ reason: opened }, 'announcement dropped');
      return;
    }
    try {
      // The record's signature proves the key; its URL is proved by the same challenge as over HTTP.
      nodes.register(registrationOf(opened), 'gossip');
      metrics.announcements.inc({ result: 'accepted' });
    } catch (err) {
      const reason = err instanceof CastnetError && typeof err.context.reason === 'string' ? err.context.reason : 'refused';
      metrics.announcements.inc({ result: reason });
      logger.debug({ reason, node: opened.paymentAddress, url: opened.url }, 'announcement refused');
    }
  };
}
