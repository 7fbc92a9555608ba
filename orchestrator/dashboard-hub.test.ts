import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import { Writable } from 'node:stream';
import { afterEach, describe, it } from 'vitest';
import { createOrchestrator, type Orchestrator } from './orchestrator.ts';
import { DashboardHub } from './dashboard-hub.ts';
import { createLogger } from '../observability/logger.ts';

/** A subscriber that takes nothing: every write stays in its buffer, as with a client that stopped reading. */
const stalled = () => new Writable({ highWaterMark: 16, write: () => {} });
/** A subscriber that reads everything at once, keeping what it got. */
function reader(): Writable & { text: string } {
  const w = new Writable({ write: (chunk, _enc, done) => { w.text += String(chunk); done(); } }) as Writable & { text: string };
  w.text = '';
  return w;
}

describe('DashboardHub', () => {
  it('computes one snapshot per tick for all subscribers and sends it only when it changed', () => {
    let calls = 0;
    let value = 1;
    const hub = new DashboardHub({ snapshot: () => (calls++, { value }), tickMs: 1_000, heartbeatMs: 10_000, maxSubscribers: 10, maxBufferedBytes: 1 << 20 });
    const subs = [reader(), reader(), reader()];
    for (const s of subs) hub.subscribe(s);
    calls = 0;
    hub.tick(1_000);
    assert.equal(calls, 1);
    value = 2;
    hub.tick(2_000);
    assert.equal(calls, 2);
    for (const s of subs) assert.equal(s.text.match(/"value":2/g)?.length, 1);
    hub.tick(3_000); // unchanged: nothing new sent
    for (const s of subs) assert.equal(s.text.match(/event: snapshot/g)?.length, 2);
    hub.close();
  });

  it('sends heartbeats while nothing changes', () => {
    const hub = new DashboardHub({ snapshot: () => ({}), tickMs: 1_000, heartbeatMs: 5_000, maxSubscribers: 10, maxBufferedBytes: 1 << 20 });
    const s = reader();
    hub.subscribe(s);
    hub.tick(Date.now() + 1_000); // the snapshot changed from none: an event
    for (let t = 2; t <= 12; t++) hub.tick(Date.now() + t * 1_000);
    assert.ok((s.text.match(/^: heartbeat/gm)?.length ?? 0) >= 1, s.text);
    hub.close();
  });

  it('refuses a subscriber past the cap with UNAVAILABLE and a reason', () => {
    const hub = new DashboardHub({ snapshot: () => ({}), tickMs: 1_000, heartbeatMs: 5_000, maxSubscribers: 2, maxBufferedBytes: 1 << 20 });
    hub.subscribe(reader());
    hub.subscribe(reader());
    assert.throws(() => hub.subscribe(reader()), (e: { code: string; context: { reason: string } }) => e.code === 'UNAVAILABLE' && e.context.reason === 'dashboard_full');
    assert.equal(hub.size, 2);
    hub.close();
  });

  it('closes a slow subscriber instead of buffering for it, and keeps serving the others', () => {
    let n = 0;
    const hub = new DashboardHub({ snapshot: () => ({ n: n++, pad: 'x'.repeat(10_000) }), tickMs: 1_000, heartbeatMs: 5_000, maxSubscribers: 10, maxBufferedBytes: 64 * 1024 });
    const slow = stalled();
    const fast = reader();
    hub.subscribe(slow);
    hub.subscribe(fast);
    for (let t = 1; t <= 20 && !slow.destroyed; t++) hub.tick(Date.now() + t * 1_000);
    assert.ok(slow.destroyed, 'the slow subscriber was closed');
    assert.ok(slow.writableLength <= 64 * 1024, `it never held more than the bound (${slow.writableLength})`);
    assert.equal(hub.dropped, 1);
    assert.equal(hub.size, 1);
    hub.tick(Date.now() + 30_000);
    assert.ok((fast.text.match(/event: snapshot/g)?.length ?? 0) >= 8);
    hub.close();
  });
});

describe('dashboard over HTTP', () => {
  let orchestrator: Orchestrator | null = null;
  const open: IncomingMessage[] = [];
  afterEach(async () => {
    for (const r of open.splice(0)) r.destroy();
    await orchestrator?.stop();
    orchestrator = null;
  });

  const subscribe = (url: string) =>
    new Promise<IncomingMessage>((resolve, reject) => {
      get(`${url}/dashboard/events`, (res) => {
        open.push(res);
        resolve(res);
      }).on('error', reject);
    });

  it('streams the snapshot, then refuses viewers past --dashboard-max-viewers with 503 and a reason', async () => {
    orchestrator = await createOrchestrator({ httpPort: 0, dataDir: null, dashboardMaxViewers: 2 }, { dashboard: { tickMs: 100 }, logger: createLogger({ level: 'silent' }) });
    await orchestrator.start();
    const first = await subscribe(orchestrator.url);
    assert.equal(first.statusCode, 200);
    assert.match(String(first.headers['content-type']), /text\/event-stream/);
    const firstEvent = await new Promise<string>((resolve) => {
      let text = '';
      first.on('data', (c) => {
        text += String(c);
        if (text.includes('\n\nevent: snapshot') || /event: snapshot\ndata: .*\n\n/.test(text)) resolve(text);
      });
    });
    assert.match(firstEvent, /"nodes":\[\]/);
    assert.equal((await subscribe(orchestrator.url)).statusCode, 200);
    const third = await subscribe(orchestrator.url);
    assert.equal(third.statusCode, 503);
    const body = await new Promise<string>((resolve) => {
      let t = '';
      third.on('data', (c) => (t += String(c))).on('end', () => resolve(t));
    });
    assert.equal(JSON.parse(body).error.reason, 'dashboard_full');
    // A viewer that leaves frees its place.
    first.destroy();
    const deadline = Date.now() + 5_000;
    while (orchestrator.dashboard.size > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await subscribe(orchestrator.url)).statusCode, 200);
  });
});
