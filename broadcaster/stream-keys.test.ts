import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
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

  it('does not resolve __proto__ or constructor to what a plain object inherits, in dev mode either', () => {
    const store = new StreamKeyStore({ dataDir: dataDir(), devMode: true });
    for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) assert.throws(() => store.resolve(key), { code: 'STREAM_KEY_REFUSED' }, key);
    assert.equal(store.list().length, 0);
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

  it('accepts a key another store added and refuses one it removed, without reopening', () => {
    const dir = dataDir();
    const running = new StreamKeyStore({ dataDir: dir, devMode: false });
    const cli = new StreamKeyStore({ dataDir: dir, devMode: false });
    assert.throws(() => running.resolve('sk_new'), { code: 'STREAM_KEY_REFUSED' });
    const { playbackId } = cli.add('sk_new');
    assert.equal(running.resolve('sk_new'), playbackId);
    assert.deepEqual(cli.remove(playbackId).map((k) => k.streamKey), ['sk_new']);
    assert.throws(() => running.resolve('sk_new'), { code: 'STREAM_KEY_REFUSED' });
  });

  it('removes a key by the key itself or by its playback id, and nothing when neither matches', () => {
    const store = new StreamKeyStore({ dataDir: dataDir(), devMode: false });
    const a = store.add('key-a');
    store.add('key-b');
    assert.deepEqual(store.remove('key-b').map((k) => k.streamKey), ['key-b']);
    assert.deepEqual(store.remove(a.playbackId).map((k) => k.streamKey), ['key-a']);
    assert.deepEqual(store.remove('nothing'), []);
    assert.deepEqual(store.list(), []);
  });

  it('in dev mode a first-use key is written over the file as it is now, keeping keys added meanwhile', () => {
    const dir = dataDir();
    const running = new StreamKeyStore({ dataDir: dir, devMode: true });
    running.resolve('dev-one');
    // Another process adds a dev key; then the running store meets a new key.
    new StreamKeyStore({ dataDir: dir, devMode: true }).add('other-dev', 'pid-other', 'dev');
    running.resolve('dev-two');
    assert.deepEqual(new StreamKeyStore({ dataDir: dir, devMode: false }).list().map((k) => k.streamKey).sort(), ['dev-one', 'dev-two', 'other-dev']);
  });

  it('in dev mode stops accepting unknown keys as soon as another process configures one', () => {
    const dir = dataDir();
    const running = new StreamKeyStore({ dataDir: dir, devMode: true });
    running.resolve('first');
    new StreamKeyStore({ dataDir: dir, devMode: false }).add('sk_configured');
    assert.throws(() => running.resolve('second'), { code: 'STREAM_KEY_REFUSED' });
    assert.throws(() => running.resolve('first'), { code: 'STREAM_KEY_REFUSED' });
  });

  it('breaks a lock left by a writer that died, and leaves no lock behind', () => {
    const dir = dataDir();
    const lock = join(dir, 'stream-keys.json.lock');
    writeFileSync(lock, '999999');
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    new StreamKeyStore({ dataDir: dir, devMode: false }).add('after-crash');
    assert.deepEqual(readdirSync(dir), ['stream-keys.json']);
  });
});
