// `castnet` as a user types it: the real bin/castnet.js in its own process.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const castnet = (...args: string[]) => promisify(execFile)(process.execPath, ['bin/castnet.js', ...args], { cwd: root, encoding: 'utf8' });

describe('castnet command line', () => {
  it('prints its version with --version, alone or after a command', async () => {
    for (const args of [['--version'], ['relay', '--version']]) {
      const { stdout } = await castnet(...args);
      assert.equal(stdout, `castnet ${version}\n`, args.join(' '));
    }
  });

  it('names an unknown command and lists the commands, with exit status 2', async () => {
    await assert.rejects(castnet('relya'), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr, /castnet: unknown command "relya"/);
      assert.match(err.stderr, /Commands:\n\s+dev\s/);
      return true;
    });
  });

  it('castnet dev with its relay port taken exits 1 with one line naming the port, no stack', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const dataDir = mkdtempSync(join(tmpdir(), 'castnet-port-taken-'));
    try {
      await assert.rejects(castnet('dev', '--http-port', String(port), '--rtmp-port', '0', '--orchestrator-port', '0', '--no-demo', '--data-dir', dataDir), (err: { code: number; stderr: string; stdout: string }) => {
        assert.equal(err.code, 1);
        assert.equal(err.stderr, `castnet: 127.0.0.1:${port} is already in use by another program: stop it or choose another port\n`);
        assert.doesNotMatch(err.stdout, /sonic|EADDRINUSE|\n\s+at /);
        return true;
      });
    } finally {
      blocker.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
