import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, it } from 'vitest';
import { randomIdentity } from '../protocol/identity.ts';
import { signPlaybackPolicy } from '../protocol/playback-policy.ts';
import { makePlaybackToken } from '../protocol/playback-token.ts';
import { PlaybackGuard, readPlaybackSecrets } from './playback-guard.ts';
import { PublisherKeys } from './publisher-keys.ts';

const publisher = randomIdentity();
const dir = mkdtempSync(join(tmpdir(), 'castnet-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const req = (token?: string) => ({ headers: {}, url: token ? `/hls/p/source/1.ts?token=${token}` : '/hls/p/source/1.ts' });

function guard(secrets: Map<string, Uint8Array[]> = new Map()): PlaybackGuard {
  return new PlaybackGuard({ keys: new PublisherKeys({ lookup: async () => publisher.address }), holds: () => true, hs256Secrets: secrets });
}

describe('PlaybackGuard', () => {
  it('lets everyone watch a stream without a policy or with a public one, on the synchronous path', async () => {
    const g = guard();
    assert.equal(g.publicHere('p'), true);
    await g.setPushed('p', signPlaybackPolicy({ playbackId: 'p', mode: 'public', keys: [], issuedAt: 1 }, publisher.privateKey));
    assert.equal(g.publicHere('p'), true);
    await g.admit('p', req());
  });

  it('verifies HS256 tokens only with a secret its operator was given, and keeps the verified token for parents', async () => {
    const secret = randomBytes(32);
    const token = await makePlaybackToken({ playbackId: 'p', key: { alg: 'HS256', kid: 'h', secret }, expiresInSeconds: 60 });
    const doc = signPlaybackPolicy({ playbackId: 'p', mode: 'signed', keys: [], issuedAt: 1 }, publisher.privateKey);
    const stranger = guard();
    await stranger.setPushed('p', doc);
    await assert.rejects(stranger.admit('p', req(token)), { code: 'UNAUTHORIZED', context: { playbackId: 'p', reason: 'token_invalid' } });
    await assert.rejects(stranger.admit('p', req()), { context: { playbackId: 'p', reason: 'token_missing' } });
    assert.equal(stranger.tokenFor('p'), null);
    writeFileSync(join(dir, 's.json'), JSON.stringify({ p: [secret.toString('base64url')] }));
    const trusted = guard(readPlaybackSecrets(join(dir, 's.json')));
    await trusted.setPushed('p', doc);
    await trusted.admit('p', req(token));
    assert.equal(trusted.tokenFor('p'), token);
  });

  it('refuses a pushed policy signed by another key and one older than the policy it holds', async () => {
    const g = guard();
    await assert.rejects(g.setPushed('p', signPlaybackPolicy({ playbackId: 'p', mode: 'public', keys: [], issuedAt: 5 }, randomIdentity().privateKey)), { context: { playbackId: 'p', from: 'push', reason: 'policy_forged' } });
    await g.setPushed('p', signPlaybackPolicy({ playbackId: 'p', mode: 'signed', keys: [], issuedAt: 5 }, publisher.privateKey));
    await assert.rejects(g.setPushed('p', signPlaybackPolicy({ playbackId: 'p', mode: 'public', keys: [], issuedAt: 4 }, publisher.privateKey)), { context: { playbackId: 'p', reason: 'policy_stale' } });
    assert.equal(g.publicHere('p'), false);
  });

  it('refuses a secrets file that is not a map of secrets', () => {
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ p: 'short' }));
    assert.throws(() => readPlaybackSecrets(join(dir, 'bad.json')), /must map playback ids/);
  });
});
