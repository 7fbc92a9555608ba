// `castnet` as a user types it: the real bin/castnet.js in its own process.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
});
