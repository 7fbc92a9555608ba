import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { createLogger } from '../observability/logger.ts';
import type { OrchestratorRecord } from '../protocol/node-announcement.ts';
import { LOCAL_ORCHESTRATOR_URL, OrchestratorLocator, SILENT_MS } from './orchestrator-locator.ts';

const logger = createLogger({ level: 'silent' });
const record = (url: string, address: string, timestamp: number): OrchestratorRecord => ({ version: 1, role: 'orchestrator', url, paymentAddress: address, timestamp });
const A = `0x${'a'.repeat(40)}`;
const B = `0x${'b'.repeat(40)}`;

describe('finding the orchestrator', () => {
  it('uses the local default without bootstrap peers, and nothing when told none', () => {
    assert.equal(new OrchestratorLocator(null, false, logger).url(), LOCAL_ORCHESTRATOR_URL);
    assert.equal(new OrchestratorLocator(false, true, logger).url(), null);
  });

  it('learns the URL from the first orchestrator heard, and follows its newer records', async () => {
    const locator = new OrchestratorLocator(null, true, logger);
    assert.equal(locator.url(), null);
    const known = locator.known(5_000);
    locator.heard(record('http://10.0.0.1:8935/', A, 1));
    assert.equal(await known, true);
    assert.equal(locator.url(), 'http://10.0.0.1:8935');
    locator.heard(record('http://10.0.0.9:8935', B, 5));
    assert.equal(locator.url(), 'http://10.0.0.1:8935', 'a second orchestrator is not followed');
    locator.heard(record('http://10.0.0.2:8935', A, 2));
    assert.equal(locator.url(), 'http://10.0.0.2:8935', 'the same orchestrator moved');
    locator.heard(record('http://10.0.0.3:8935', A, 1));
    assert.equal(locator.url(), 'http://10.0.0.2:8935', 'an older record does not move it back');
    locator.heard(record('http://10.0.0.9:8935', B, 2 + SILENT_MS));
    assert.equal(locator.url(), 'http://10.0.0.9:8935', 'another orchestrator replaces one silent past the bound');
  });

  it('keeps an explicit URL whatever the network announces', () => {
    const locator = new OrchestratorLocator('http://orch.example:8935', true, logger);
    locator.heard(record('http://10.0.0.1:8935', A, 1));
    assert.equal(locator.url(), 'http://orch.example:8935');
  });

  it('gives up waiting after the bound', async () => {
    assert.equal(await new OrchestratorLocator(null, true, logger).known(50), false);
  });
});
