import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { StreamKeyStore } from './stream-keys.ts';

const dataDir = () => mkdtempSync(join(tmpdir(), 'castnet-keys-'));

describe('stream keys', () => {
  it('in dev mode accepts any key and keeps its playback id across restarts', () => {
    const dir = dataDir();
    const id = new StreamKeyStore({ dataDir: dir, devMode: true }).resolve('anything');
    assert.notEqual(id, 'anything');
    assert.equal(new StreamKeyStore({ dataDir: dir, devMode: true }).resolve('anything'), id);
    assert.equal(statSync(join(dir, 'stream-keys.json')).mode & 0o777, 0o600);
  });

  it('outside dev mode refuses unknown keys with STREAM_KEY_REFUSED', () => {
    const store = new StreamKeyStore({ dataDir: dataDir(), devMode: false });
    const { streamKey, playbackId } = store.add();
    assert.equal(store.resolve(streamKey), playbackId);
    assert.throws(() => store.resolve('guess'), { code: 'STREAM_KEY_REFUSED', message: 'unknown stream key' });
  });

  it('in dev mode refuses unknown keys once keys are configured', () => {
    const store = new StreamKeyStore({ dataDir: dataDir(), devMode: true });
    store.add('configured-key');
    assert.throws(() => store.resolve('other'), { code: 'STREAM_KEY_REFUSED' });
  });

  it('refuses malformed keys', () => {
    assert.throws(() => new StreamKeyStore({ dataDir: dataDir(), devMode: true }).resolve('../../etc'), { message: 'malformed stream key' });
  });
});
