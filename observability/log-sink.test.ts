import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'vitest';
import { pino } from 'pino';
import { LogLimiter } from './log-limiter.ts';
import { LogSink } from './log-sink.ts';
import { createLogger } from './logger.ts';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'castnet-log-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('log sink', () => {
  it('drops and counts lines on a full disk (/dev/full answers ENOSPC) and never blocks or throws', async () => {
    const sink = new LogSink({ target: '/dev/full' });
    const logger = pino({ level: 'info' }, sink);
    const started = performance.now();
    for (let i = 0; i < 1_000; i++) logger.info({ i }, 'a line the disk cannot take');
    await sink.drained();
    assert.ok(performance.now() - started < 5_000, 'the logger kept going');
    assert.equal(sink.dropped, 1_000);
    assert.ok((sink.errors.get('ENOSPC') ?? 0) > 0, JSON.stringify([...sink.errors]));
    // The process still serves: a timer runs at once.
    await new Promise((r) => setTimeout(r, 1));
    sink.close();
  });

  it('drops lines past the pending bound rather than holding them in memory', async () => {
    const sink = new LogSink({ target: '/dev/full', maxPendingBytes: 1_000 });
    for (let i = 0; i < 100; i++) sink.write(`${'x'.repeat(99)}\n`);
    assert.ok(sink.pendingBytes <= 1_000);
    await sink.drained();
    assert.equal(sink.dropped, 100);
    sink.close();
  });

  it('creates the log file 0600, narrows an existing one, and rotates it at the size cap keeping a bounded number of files', async () => {
    const dir = tempDir();
    const path = join(dir, 'castnet.log');
    writeFileSync(path, '', { mode: 0o644 });
    const sink = new LogSink({ target: path, maxBytes: 1_000, keep: 2 });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    for (let i = 0; i < 50; i++) {
      sink.write(`${JSON.stringify({ i, pad: 'p'.repeat(80) })}\n`);
      await sink.drained();
    }
    sink.close();
    assert.ok(sink.rotations >= 3, `rotated ${sink.rotations} times`);
    assert.ok(existsSync(`${path}.1`) && existsSync(`${path}.2`));
    assert.ok(!existsSync(`${path}.3`), 'only two rotated files are kept');
    for (const f of [path, `${path}.1`, `${path}.2`]) {
      assert.ok(statSync(f).size <= 1_100, `${f} is ${statSync(f).size} bytes`);
      assert.equal(statSync(f).mode & 0o777, 0o600);
    }
    // Nothing lost within what is kept: the newest line is in the live file.
    assert.match(readFileSync(path, 'utf8') + readFileSync(`${path}.1`, 'utf8'), /"i":49/);
    assert.equal(sink.dropped, 0);
  });

  it("a logger's file is created 0600", async () => {
    const dir = tempDir();
    const file = join(dir, 'sub', 'castnet.log');
    const logger = createLogger({ level: 'info', file });
    logger.info('hello');
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });
});

describe('log rate limit', () => {
  it('lets a message burst, then holds it to its rate and says how many lines were held back', () => {
    let now = 0;
    const limiter = new LogLimiter({ burst: 3, perSecond: 1, now: () => now });
    assert.deepEqual([0, 1, 2, 3, 4].map(() => limiter.take('push refused')), [0, 0, 0, null, null]);
    assert.equal(limiter.take('other message'), 0, 'each message has its own budget');
    now += 1_000;
    assert.equal(limiter.take('push refused'), 2, 'the next line reports the two held back');
    assert.equal(limiter.suppressedTotal, 2);
  });

  it('keeps a flood of one message from the log file', async () => {
    const dir = tempDir();
    const file = join(dir, 'castnet.log');
    const logger = createLogger({ level: 'info', file, linesPerSecond: 1 });
    for (let i = 0; i < 10_000; i++) logger.info({ i }, 'request refused');
    logger.info('something else');
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    await new Promise((r) => setTimeout(r, 50));
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.ok(lines.length <= 60, `${lines.length} lines`);
    assert.match(lines.at(-1)!, /something else/);
  });
});
