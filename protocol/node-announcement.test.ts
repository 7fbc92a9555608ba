import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';
import { identityFromPrivateKey } from './identity.ts';
import { openOrchestratorAnnouncement, signOrchestratorAnnouncement } from './node-announcement.ts';

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
