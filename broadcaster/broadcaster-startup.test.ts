// What a broadcaster says at start about what it depends on: it starts without its orchestrator (which may
// come later), with one warning naming the orchestrator's URL.

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, it } from 'vitest';
import { createBroadcaster } from './broadcaster.ts';
import { closedPort } from '../test/support/ports.ts';

function recordingLogger() {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) });
  return { logger, lines };
}

describe('broadcaster start', () => {
  it('starts when the orchestrator does not answer, warning once with its URL', async () => {
    const { logger, lines } = recordingLogger();
    const orchestrator = `http://127.0.0.1:${await closedPort()}`;
    const broadcaster = await createBroadcaster({ dataDir: mkdtempSync(join(tmpdir(), 'castnet-start-')), rtmpPort: 0, httpPort: 0, orchestrator }, { logger });
    await broadcaster.start();
    try {
      assert.equal((await fetch(`${broadcaster.httpUrl}/healthz`)).status, 200);
      const warnings = lines.filter((l) => l.level === 40);
      assert.equal(warnings.length, 1, JSON.stringify(warnings));
      assert.ok(warnings[0]!.msg.includes(`the orchestrator at ${orchestrator} does not answer`), warnings[0]!.msg);
      assert.ok(warnings[0]!.msg.includes('ECONNREFUSED'), warnings[0]!.msg);
      assert.equal(lines.filter((l) => l.level >= 50).length, 0, 'FFmpeg runs here');
    } finally {
      await broadcaster.stop();
    }
  });
});
