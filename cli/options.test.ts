import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { helpText, resolveOptions, type OptionSpec } from './options.ts';

interface Opts {
  port: number;
  demo: boolean;
  dataDir: string;
}
const defaults: Opts = { port: 8080, demo: true, dataDir: './.castnet' };
const specs: OptionSpec<Opts>[] = [
  { key: 'port', flag: 'http-port', description: 'port' },
  { key: 'demo', flag: 'demo', description: 'demo' },
  { key: 'dataDir', flag: 'data-dir', description: 'data' },
];

describe('CLI options', () => {
  it('takes flags over environment over config file over defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'castnet-options-'));
    const config = join(dir, 'c.json');
    writeFileSync(config, JSON.stringify({ port: 1, dataDir: '/from-config', demo: false }));
    const env = { CASTNET_HTTP_PORT: '2', CASTNET_DATA_DIR: '/from-env' };
    assert.deepEqual(resolveOptions(specs, defaults, ['--config', config, '--http-port', '3'], env), { port: 3, demo: false, dataDir: '/from-env' });
    assert.deepEqual(resolveOptions(specs, defaults, [], {}), defaults);
  });

  it('reads --no-flag as false and --flag=value forms', () => {
    assert.deepEqual(resolveOptions(specs, defaults, ['--no-demo', '--http-port=9'], {}), { ...defaults, demo: false, port: 9 });
  });

  it('refuses unknown flags and non-numbers with a clear message', () => {
    assert.throws(() => resolveOptions(specs, defaults, ['--htp-port', '1'], {}), /unknown option --htp-port/);
    assert.throws(() => resolveOptions(specs, defaults, ['--http-port', 'eighty'], {}), /--http-port takes a number, not "eighty"/);
  });

  it('prints every option with its default and environment variable', () => {
    const help = helpText('relay', 'Relay.', specs, defaults);
    assert.match(help, /--http-port\s+port \(default: 8080; env CASTNET_HTTP_PORT\)/);
    assert.match(help, /--data-dir\s+data \(default: \.\/\.castnet; env CASTNET_DATA_DIR\)/);
  });
});
