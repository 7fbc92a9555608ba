// Stream keys shared by processes: `castnet keys` run as real processes while a broadcaster runs, in one
// data directory. Keys added or removed by the CLI reach the running broadcaster without a restart, and
// two CLIs adding keys at once lose none of them.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'vitest';
import { createBroadcaster } from '../broadcaster/broadcaster.ts';
import { silentLogger } from '../observability/logger.ts';

const run = promisify(execFile);
const castnet = (...args: string[]) => run('node_modules/.bin/node', ['bin/castnet.js', ...args], { encoding: 'utf8' });
const ADDS_PER_PROCESS = 15;

describe('stream keys across processes', () => {
  it('a running broadcaster accepts a key the CLI added and refuses one it removed, without a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'castnet-keys-live-'));
    const broadcaster = await createBroadcaster({ dataDir, rtmpPort: 0, httpPort: 0, orchestrator: 'http://127.0.0.1:9' }, { logger: silentLogger });
    await broadcaster.start();
    try {
      const added = await castnet('keys', 'add', 'sk_from_cli', '--data-dir', dataDir);
      const playbackId = /playback id: (\S+)/.exec(added.stdout)![1]!;
      assert.equal(broadcaster.keys.resolve('sk_from_cli'), playbackId);
      await castnet('keys', 'remove', playbackId, '--data-dir', dataDir);
      assert.throws(() => broadcaster.keys.resolve('sk_from_cli'), { code: 'STREAM_KEY_REFUSED' });
    } finally {
      await broadcaster.stop();
    }
  });

  it('keeps every key when two CLI processes add keys at the same time', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'castnet-keys-race-'));
    const loop = async (name: string) => {
      for (let i = 0; i < ADDS_PER_PROCESS; i++) await castnet('keys', 'add', `${name}-${i}`, '--data-dir', dataDir);
    };
    await Promise.all([loop('a'), loop('b')]);
    const keys = Object.keys(JSON.parse(readFileSync(join(dataDir, 'stream-keys.json'), 'utf8')) as object);
    assert.equal(keys.length, 2 * ADDS_PER_PROCESS);
    const listed = (await castnet('keys', 'list', '--data-dir', dataDir)).stdout.trim().split('\n');
    assert.equal(listed.length, 2 * ADDS_PER_PROCESS);
  });
});
