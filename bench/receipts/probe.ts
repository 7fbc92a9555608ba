// probe: relay CPU per receipt with no segment load (not committed; measurement for issue 14)
import { createRelay } from '../../relay/relay.ts';
import { silentLogger } from '../../observability/logger.ts';
import { randomIdentity } from '../../protocol/identity.ts';
import { ReceiptLoadProcess } from '../support/receipt-load.ts';
const payer = randomIdentity();
const relay = await createRelay({ httpPort: 0, dataDir: null, orchestrator: false, discoverParents: false, pricePerByte: 1n, streamIdleMs: 600_000 }, { logger: silentLogger, deliveryLookup: async () => ({ payer: payer.address, url: 'http://127.0.0.1:9', maxPricePerByte: '10' }) });
await relay.start();
const bps = Number(process.argv[2] ?? 3e9);
const load = await ReceiptLoadProcess.start({ relayUrl: relay.url, relayAddress: relay.paymentAddress, payer, playbackId: 'bench', segmentBytes: 1504000, rendition: 'source', sequence: 5 }, bps);
console.log('viewers', load.viewers, 'rps', load.receiptsPerSecond);
for (let i = 0; i < 3; i++) {
  await load.prepare(3);
  const cpu = process.cpuUsage(); const t = performance.now();
  await load.send();
  const u = process.cpuUsage(cpu); const wall = performance.now() - t;
  const n = Math.ceil(load.receiptsPerSecond * 3);
  console.log(`run ${i}: ${n} receipts in ${wall.toFixed(0)} ms, relay CPU ${(u.user/1e3).toFixed(0)} ms user ${(u.system/1e3).toFixed(0)} ms sys → ${((u.user+u.system)/n).toFixed(0)} µs per receipt`);
}
console.log(JSON.stringify(await load.report()).slice(0, 300));
load.close(); await relay.stop(); process.exit(0);
