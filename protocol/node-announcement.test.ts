// Signed gossip records: what a receiver accepts of a node's or the orchestrator's record, each reason it
// refuses one, and the bound on relay stats.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';
import { identityFromPrivateKey } from './identity.ts';
import { ANNOUNCEMENT_VERSION, MAX_ANNOUNCED_STATS, announcedStats, openAnnouncement, openOrchestratorAnnouncement, registrationOf, signAnnouncement, signOrchestratorAnnouncement } from './node-announcement.ts';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const MAX_AGE_MS = 10_000;
const node = identityFromPrivateKey(randomBytes(32));
const stat = (playbackId: string, viewers: number) => ({ playbackId, viewers, bytesServed: viewers * 1000, hits: 3, misses: 1, hitRatio: 0.75, upstreamBytes: 10 });
const record = (over: object = {}) => ({
  version: ANNOUNCEMENT_VERSION,
  role: 'relay' as const,
  url: 'http://127.0.0.1:1001',
  paymentAddress: node.address,
  capabilities: { encoders: [], maxSessions: 8, pricePerPixel: '0' },
  load: { sessions: 1, inFlight: 0 },
  streams: ['s1'],
  stats: [stat('s1', 2)],
  timestamp: NOW,
  ...over,
});
const open = (bytes: Uint8Array) => openAnnouncement(bytes, NOW, MAX_AGE_MS);
const text = (s: string) => new TextEncoder().encode(s);

describe('node announcements', () => {
  it('accepts a fresh record signed by its payment address, with the relay\'s streams and stats', () => {
    const opened = open(signAnnouncement(record(), node));
    assert.ok(typeof opened !== 'string', `refused: ${String(opened)}`);
    const registration = registrationOf(opened);
    assert.deepEqual(registration.streams, ['s1']);
    assert.deepEqual(registration.stats, [stat('s1', 2)]);
  });

  it('keeps streams and stats off a transcoder\'s registration', () => {
    const opened = open(signAnnouncement(record({ role: 'transcoder', streams: [], stats: [] }), node));
    assert.ok(typeof opened !== 'string');
    assert.equal(registrationOf(opened).stats, undefined);
  });

  it('refuses bytes that are not JSON, or JSON that is not a record, as malformed', () => {
    assert.equal(open(text('not json')), 'malformed');
    assert.equal(open(text(JSON.stringify({ record: { version: ANNOUNCEMENT_VERSION }, signature: '0x00' }))), 'malformed');
    assert.equal(open(text('null')), 'malformed');
  });

  it('refuses a record of another version as unknown_version, even when its shape differs', () => {
    assert.equal(open(signAnnouncement(record({ version: ANNOUNCEMENT_VERSION + 1 }), node)), 'unknown_version');
    assert.equal(open(text(JSON.stringify({ record: { version: 1, role: 'relay' }, signature: '0x00' }))), 'unknown_version');
  });

  it('refuses records older than the maximum age, or from the future, as stale', () => {
    assert.equal(open(signAnnouncement(record({ timestamp: NOW - MAX_AGE_MS - 1 }), node)), 'stale');
    assert.equal(open(signAnnouncement(record({ timestamp: NOW + 60_000 }), node)), 'stale');
  });

  it('refuses a record signed by another key than its payment address, or changed after signing, as bad_signature', () => {
    const liar = identityFromPrivateKey(randomBytes(32));
    assert.equal(open(signAnnouncement(record(), liar)), 'bad_signature');
    const signed = JSON.parse(new TextDecoder().decode(signAnnouncement(record(), node))) as { record: { stats: Array<{ viewers: number }> } };
    signed.record.stats[0]!.viewers = 1_000_000;
    assert.equal(open(text(JSON.stringify(signed))), 'bad_signature');
  });

  it("signs a relay's delivery price: a record whose price was changed after signing is bad_signature", () => {
    const priced = record({ capabilities: { encoders: [], maxSessions: 8, pricePerPixel: '0', pricePerByte: '2' } });
    const bytes = signAnnouncement(priced, node);
    const opened = openAnnouncement(bytes, NOW, MAX_AGE_MS);
    assert.equal(typeof opened === 'object' && opened.capabilities.pricePerByte, '2');
    const cheaper = JSON.parse(new TextDecoder().decode(bytes));
    cheaper.record.capabilities.pricePerByte = '1';
    assert.equal(openAnnouncement(new TextEncoder().encode(JSON.stringify(cheaper)), NOW, MAX_AGE_MS), 'bad_signature');
  });

  it(`announces at most ${MAX_ANNOUNCED_STATS} streams' stats, the busiest first, and refuses records with more`, () => {
    const many = Array.from({ length: MAX_ANNOUNCED_STATS + 10 }, (_, i) => stat(`s${i}`, i));
    const kept = announcedStats(many);
    assert.equal(kept.length, MAX_ANNOUNCED_STATS);
    assert.equal(kept[0]!.viewers, MAX_ANNOUNCED_STATS + 9);
    assert.throws(() => signAnnouncement(record({ stats: many }), node));
    const forced = text(JSON.stringify({ record: record({ stats: many }), signature: `0x${'00'.repeat(65)}` }));
    assert.equal(open(forced), 'malformed');
  });
});

describe("the orchestrator's announcement", () => {
  const orchestrator = identityFromPrivateKey(randomBytes(32));
  const now = 1_700_000_000_000;

  it('opens to the signed URL and the signing address', () => {
    const record = openOrchestratorAnnouncement(signOrchestratorAnnouncement({ url: 'http://10.0.0.1:8935', timestamp: now }, orchestrator), now, 30_000);
    assert.ok(typeof record === 'object');
    assert.equal(record.url, 'http://10.0.0.1:8935');
    assert.equal(record.paymentAddress, orchestrator.address.toLowerCase());
  });

  it('refuses a record whose URL was changed after signing', () => {
    const signed = JSON.parse(new TextDecoder().decode(signOrchestratorAnnouncement({ url: 'http://10.0.0.1:8935', timestamp: now }, orchestrator)));
    signed.record.url = 'http://evil.example:8935';
    assert.equal(openOrchestratorAnnouncement(new TextEncoder().encode(JSON.stringify(signed)), now, 30_000), 'bad_signature');
  });

  it('refuses stale records and unknown versions', () => {
    assert.equal(openOrchestratorAnnouncement(signOrchestratorAnnouncement({ url: 'http://10.0.0.1:8935', timestamp: now - 60_000 }, orchestrator), now, 30_000), 'stale');
    const signed = JSON.parse(new TextDecoder().decode(signOrchestratorAnnouncement({ url: 'http://10.0.0.1:8935', timestamp: now }, orchestrator)));
    signed.record.version = 9;
    assert.equal(openOrchestratorAnnouncement(new TextEncoder().encode(JSON.stringify(signed)), now, 30_000), 'unknown_version');
  });
});
