import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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

  it('refuses a corrupt keys file with an error naming it, and leaves the file as it was', () => {
    const dir = dataDir();
    const file = join(dir, 'stream-keys.json');
    writeFileSync(file, '{"sk_live": {"playbackId": "abc", "createdAt": "2026-01-01T00:00:00Z", "origin": "configu');
    assert.throws(() => new StreamKeyStore({ dataDir: dir, devMode: false }), (err: Error & { code?: string }) => err.code === 'INTERNAL' && err.message.includes(file) && err.message.includes('corrupt'));
    writeFileSync(file, '{"sk_live": {"playbackId": 7}}');
    assert.throws(() => new StreamKeyStore({ dataDir: dir, devMode: false }), { code: 'INTERNAL' });
    assert.equal(readFileSync(file, 'utf8'), '{"sk_live": {"playbackId": 7}}');
  });

  it('treats a missing keys file as no keys', () => {
    assert.deepEqual(new StreamKeyStore({ dataDir: join(dataDir(), 'not-yet'), devMode: false }).list(), []);
  });

  it('keeps the keys another store added to the same file since it was opened', () => {
    const dir = dataDir();
    const first = new StreamKeyStore({ dataDir: dir, devMode: false });
    const second = new StreamKeyStore({ dataDir: dir, devMode: false });
    const a = first.add('key-a');
    const b = second.add('key-b');
    const c = first.add('key-c');
    const keys = new StreamKeyStore({ dataDir: dir, devMode: false }).list();
    assert.deepEqual(keys.map((k) => k.streamKey).sort(), ['key-a', 'key-b', 'key-c']);
    assert.deepEqual(keys.map((k) => k.playbackId).sort(), [a.playbackId, b.playbackId, c.playbackId].sort());
  });

  it('writes through a temp file and rename, leaving no temp file behind', () => {
    const dir = dataDir();
    const store = new StreamKeyStore({ dataDir: dir, devMode: false });
    for (let i = 0; i < 5; i++) store.add();
    assert.deepEqual(readdirSync(dir), ['stream-keys.json']);
    assert.equal(Object.keys(JSON.parse(readFileSync(join(dir, 'stream-keys.json'), 'utf8')) as object).length, 5);
  });
});
