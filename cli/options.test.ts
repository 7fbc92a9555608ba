import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { broadcasterOptionsDefinition, defaultBroadcasterOptions } from '../broadcaster/options.ts';
import type { OptionsDefinition, OptionTable } from '../config/option-table.ts';
import { orchestratorOptionsDefinition } from '../orchestrator/options.ts';
import { relayOptionsDefinition } from '../relay/options.ts';
import { transcoderOptionsDefinition } from '../transcoder/options.ts';
import { devOptionsDefinition } from './dev.ts';
import { helpText, readConfigFile, resolveOptions, type ResolveSources } from './options.ts';

const dir = mkdtempSync(join(tmpdir(), 'castnet-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let configs = 0;
function config(json: unknown): string {
  const path = join(dir, `config-${configs++}.json`);
  writeFileSync(path, JSON.stringify(json));
  return path;
}

const quiet: ResolveSources = { env: {}, warn: () => {} };

describe('role options from the command line', () => {
  it('parses wei amounts into bigints, lists into arrays and "none" into null', () => {
    const t = resolveOptions(transcoderOptionsDefinition, ['--price-per-pixel', '3', '--ticket-face-value', '123456789012345678901234567890', '--ticket-ev=5', '--data-dir', '', '--public-url', ''], quiet);
    assert.equal(t.pricePerPixel, 3n);
    assert.equal(t.ticketFaceValue, 123456789012345678901234567890n);
    assert.equal(t.ticketEv, 5n);
    assert.equal(t.dataDir, null);
    assert.equal(t.publicUrl, null);
    const r = resolveOptions(relayOptionsDefinition, ['--parents', 'http://a.example:8080/, https://b.example', '--bootstrap', '/ip4/10.0.0.1/tcp/4001'], quiet);
    assert.deepEqual(r.parents, ['http://a.example:8080', 'https://b.example']);
    assert.deepEqual(r.bootstrap, ['/ip4/10.0.0.1/tcp/4001']);
    const o = resolveOptions(orchestratorOptionsDefinition, [], quiet);
    assert.deepEqual([o.p2p, o.p2pPort, o.publicUrl, o.p2pAnnounce], [false, 4001, null, []]);
    const p = resolveOptions(orchestratorOptionsDefinition, ['--p2p', '--p2p-port', '0', '--p2p-announce', '/ip4/1.2.3.4/tcp/4001', '--public-url', 'http://orch.example:8935/'], quiet);
    assert.deepEqual([p.p2p, p.p2pPort, p.publicUrl, p.p2pAnnounce], [true, 0, 'http://orch.example:8935', ['/ip4/1.2.3.4/tcp/4001']]);
    assert.equal(resolveOptions(transcoderOptionsDefinition, [], quiet).orchestrator, null, 'not given: learned with --bootstrap, else local');
    assert.equal(resolveOptions(transcoderOptionsDefinition, ['--orchestrator', 'none'], quiet).orchestrator, false);
    assert.equal(resolveOptions(transcoderOptionsDefinition, ['--orchestrator', 'http://o.example:8935/'], quiet).orchestrator, 'http://o.example:8935');
    assert.deepEqual([r.p2pPort, r.orchestratorWaitMs], [4003, 15_000]);
    assert.equal(resolveOptions(broadcasterOptionsDefinition, ['--max-price-per-pixel', '7'], quiet).maxPricePerPixel, 7n);
  });

  it('parses the ladder into rungs, and an empty one into the default ladder', () => {
    const b = resolveOptions(broadcasterOptionsDefinition, ['--ladder', '1080p60:6000k,540p'], quiet);
    assert.deepEqual(b.ladder.map((r) => [r.height, r.fps, r.videoBitrate]), [[1080, 60, 6_000_000], [540, 30, Math.round(540 * 540 * 5.4)]]);
    assert.equal(resolveOptions(broadcasterOptionsDefinition, ['--ladder', ''], quiet).ladder, defaultBroadcasterOptions.ladder);
  });

  it('gives each role its own fixed default p2p port, so bootstrap addresses survive restarts and roles share a machine', () => {
    const ports = [orchestratorOptionsDefinition, transcoderOptionsDefinition, relayOptionsDefinition].map((d) => (resolveOptions(d as unknown as OptionsDefinition<OptionTable>, [], quiet) as { p2pPort: number }).p2pPort);
    assert.deepEqual(ports, [4001, 4002, 4003]);
  });

  it('reads --no-flag as false and bare --flag as true', () => {
    assert.equal(resolveOptions(relayOptionsDefinition, ['--no-discover-parents'], quiet).discoverParents, false);
    assert.equal(resolveOptions(broadcasterOptionsDefinition, ['--dev'], quiet).dev, true);
  });

  it('refuses values of the wrong kind, naming the flag and the value', () => {
    assert.throws(() => resolveOptions(relayOptionsDefinition, ['--http-port', 'eighty'], quiet), /--http-port takes a port from 0 to 65535, not "eighty"/);
    assert.throws(() => resolveOptions(relayOptionsDefinition, ['--http-port', '-1'], quiet), /--http-port takes a port from 0 to 65535, not "-1"/);
    assert.throws(() => resolveOptions(relayOptionsDefinition, ['--http-port', '70000'], quiet), /--http-port takes a port/);
    assert.throws(() => resolveOptions(relayOptionsDefinition, ['--orchestrator', 'ftp://x'], quiet), /--orchestrator takes an http\(s\) URL.*, not "ftp:\/\/x"/);
    assert.throws(() => resolveOptions(relayOptionsDefinition, ['--parents', 'http://a,b'], quiet), /--parents takes an http\(s\) URL \(item 1\)/);
    assert.throws(() => resolveOptions(transcoderOptionsDefinition, ['--price-per-pixel', '1.5'], quiet), /--price-per-pixel takes an amount in wei/);
    assert.throws(() => resolveOptions(transcoderOptionsDefinition, ['--encoder', 'x265'], quiet), /--encoder takes auto, libx264 or h264_nvenc/);
    assert.throws(() => resolveOptions(transcoderOptionsDefinition, ['--http-port'], quiet), /--http-port needs a value/);
    assert.throws(() => resolveOptions(broadcasterOptionsDefinition, ['--ladder', '720x'], quiet), /--ladder .*invalid ladder rung "720x"/);
    assert.throws(() => resolveOptions(relayOptionsDefinition, ['--stream-idle-ms', '0'], quiet), /--stream-idle-ms takes a duration in milliseconds above 0/);
  });

  it('refuses illegal combinations with a message naming both options', () => {
    assert.throws(() => resolveOptions(transcoderOptionsDefinition, ['--ticket-face-value', '10', '--ticket-ev', '11'], quiet), /--ticket-ev \(11\) cannot exceed --ticket-face-value \(10\)/);
    assert.throws(() => resolveOptions(transcoderOptionsDefinition, ['--ticket-ev', '0'], quiet), /--ticket-ev must be above 0 when --price-per-pixel is/);
    assert.doesNotThrow(() => resolveOptions(transcoderOptionsDefinition, ['--ticket-ev', '0', '--price-per-pixel', '0'], quiet));
    assert.throws(() => resolveOptions(relayOptionsDefinition, ['--orchestrator', ''], quiet), /--discover-parents .* give --orchestrator, or --no-discover-parents/);
    assert.equal(resolveOptions(relayOptionsDefinition, ['--orchestrator', '', '--no-discover-parents'], quiet).orchestrator, false);
    assert.doesNotThrow(() => resolveOptions(relayOptionsDefinition, ['--bootstrap', '/ip4/10.0.0.1/tcp/4001/p2p/x'], quiet), 'an orchestrator learned from gossip still serves discovery');
    assert.throws(() => resolveOptions(orchestratorOptionsDefinition, ['--bootstrap', '/ip4/10.0.0.1/tcp/4001'], quiet), /--bootstrap joins a libp2p network: give --p2p/);
    assert.throws(() => resolveOptions(orchestratorOptionsDefinition, ['--p2p-announce', '/ip4/1.2.3.4/tcp/4001'], quiet), /--p2p-announce .* give --p2p/);
    assert.throws(() => resolveOptions(transcoderOptionsDefinition, ['--p2p-announce', '/ip4/1.2.3.4/tcp/4002'], quiet), /--p2p-announce .* give --bootstrap/);
    assert.throws(() => resolveOptions(orchestratorOptionsDefinition, ['--node-timeout-ms', '1000', '--heartbeat-interval-ms', '2000'], quiet), /--node-timeout-ms \(1000\) must be longer than --heartbeat-interval-ms \(2000\)/);
    assert.throws(() => resolveOptions(broadcasterOptionsDefinition, ['--rtmp-port', '9000', '--http-port', '9000'], quiet), /--rtmp-port and --http-port are both 9000/);
    assert.throws(() => resolveOptions(devOptionsDefinition, ['--http-port', '8936'], quiet), /ports collide/);
    assert.doesNotThrow(() => resolveOptions(devOptionsDefinition, ['--http-port', '0', '--rtmp-port', '0', '--orchestrator-port', '0'], quiet));
  });

  it('refuses unknown flags, suggesting the nearest one', () => {
    assert.throws(() => resolveOptions(relayOptionsDefinition, ['--htp-port', '1'], quiet), /unknown option --htp-port; did you mean --http-port\?/);
    assert.throws(() => resolveOptions(relayOptionsDefinition, ['--zzzzzzzz', '1'], quiet), /^Error: unknown option --zzzzzzzz \(see --help\)$/);
    assert.throws(() => resolveOptions(relayOptionsDefinition, ['stray'], quiet), /unexpected argument "stray"/);
  });

  it('still takes the old port flags and environment names, with a deprecation warning', () => {
    const warnings: string[] = [];
    const sources = { env: {}, warn: (m: string) => warnings.push(m) };
    assert.equal(resolveOptions(orchestratorOptionsDefinition, ['--api-port', '9001'], sources).httpPort, 9001);
    assert.equal(resolveOptions(transcoderOptionsDefinition, ['--port', '9002'], sources).httpPort, 9002);
    assert.equal(resolveOptions(devOptionsDefinition, ['--api-port', '0'], sources).orchestratorPort, 0);
    assert.equal(resolveOptions(orchestratorOptionsDefinition, [], { ...sources, env: { CASTNET_API_PORT: '9003' } }).httpPort, 9003);
    assert.equal(resolveOptions(orchestratorOptionsDefinition, [], { ...sources, env: { CASTNET_API_PORT: '9003', CASTNET_HTTP_PORT: '9004' } }).httpPort, 9004);
    assert.deepEqual(warnings.slice(0, 4), [
      '--api-port is deprecated; use --http-port',
      '--port is deprecated; use --http-port',
      '--api-port is deprecated; use --orchestrator-port',
      'CASTNET_API_PORT is deprecated; use CASTNET_HTTP_PORT',
    ]);
  });
});

describe('role options from the environment and a config file', () => {
  it('takes flags over CASTNET_* environment over the config file over defaults', () => {
    const path = config({ 'http-port': 1, 'data-dir': '/from-config', 'discover-parents': false, 'max-sessions': 7 });
    const env = { CASTNET_HTTP_PORT: '2', CASTNET_DATA_DIR: '/from-env' };
    const r = resolveOptions(relayOptionsDefinition, ['--config', path, '--http-port', '3'], { env });
    assert.equal(r.httpPort, 3);
    assert.equal(r.dataDir, '/from-env');
    assert.equal(r.discoverParents, false);
    assert.equal(r.maxSessions, 7);
    assert.equal(r.playlistSegments, 6);
    assert.equal(resolveOptions(relayOptionsDefinition, [], { env: { CASTNET_CONFIG: path } }).httpPort, 1);
  });

  it('reads a config keyed by flag names into the same real types as the flags', () => {
    const path = config({ 'price-per-pixel': '2', 'ticket-face-value': 1000, 'ticket-ev': '10', 'bootstrap': ['/ip4/10.0.0.1/tcp/4001'], 'public-url': null, 'data-dir': '' });
    const t = resolveOptions(transcoderOptionsDefinition, ['--config', path], quiet);
    assert.equal(t.pricePerPixel, 2n);
    assert.equal(t.ticketFaceValue, 1000n);
    assert.deepEqual(t.bootstrap, ['/ip4/10.0.0.1/tcp/4001']);
    assert.equal(t.publicUrl, null);
    assert.equal(t.dataDir, null);
  });

  it('refuses unknown config keys, naming the key, the file and the nearest valid key', () => {
    const byOldName = config({ port: 8080 });
    assert.throws(() => resolveOptions(transcoderOptionsDefinition, ['--config', byOldName], quiet), new RegExp(`unknown option "port" in ${byOldName}; did you mean "http-port"\\?`));
    assert.throws(() => resolveOptions(relayOptionsDefinition, ['--config', byOldName], quiet), /unknown option "port" in .*; did you mean "http-port"\?/);
    assert.throws(() => resolveOptions(relayOptionsDefinition, ['--config', config({ dataDir: '/x' })], quiet), /unknown option "dataDir" in .*; did you mean "data-dir"\?/);
    assert.throws(() => resolveOptions(orchestratorOptionsDefinition, ['--config', config({ 'api-port': 1 })], quiet), /unknown option "api-port" in .*; did you mean "http-port"\?/);
  });

  it('refuses bad config values and combinations as it does flags', () => {
    assert.throws(() => resolveOptions(relayOptionsDefinition, ['--config', config({ 'http-port': '80a' })], quiet), /"http-port" in .* takes a port from 0 to 65535, not "80a"/);
    assert.throws(() => resolveOptions(transcoderOptionsDefinition, ['--config', config({ 'ticket-ev': '11', 'ticket-face-value': '10' })], quiet), /--ticket-ev \(11\) cannot exceed/);
    assert.throws(() => resolveOptions(relayOptionsDefinition, ['--config', join(dir, 'missing.json')], quiet), /cannot read config .*missing\.json/);
    assert.throws(() => resolveOptions(relayOptionsDefinition, ['--config', config([1])], quiet), /must be a JSON object/);
  });

  it('parses every sample config in docs/config', () => {
    const sample = <T extends OptionTable>(name: string, definition: OptionsDefinition<T>) => {
      const path = join(import.meta.dirname, '..', 'docs', 'config', `${name}.json`);
      assert.deepEqual(Object.keys(readConfigFile(definition, path)).sort(), Object.keys(definition.table).sort(), `${name}.json lists every option`);
      assert.doesNotThrow(() => resolveOptions(definition, ['--config', path], quiet), `${name}.json`);
    };
    sample('orchestrator', orchestratorOptionsDefinition);
    sample('transcoder', transcoderOptionsDefinition);
    sample('relay', relayOptionsDefinition);
    sample('broadcaster', broadcasterOptionsDefinition);
    sample('dev', devOptionsDefinition);
  });
});

describe('role --help', () => {
  it('prints every option with its default and environment variable', () => {
    const help = helpText('transcoder', 'Transcoder.', transcoderOptionsDefinition);
    for (const o of Object.values(transcoderOptionsDefinition.table)) assert.match(help, new RegExp(`--${o.flag} `));
    assert.match(help, /--http-port\s+HTTP port \(default: 8936; env CASTNET_HTTP_PORT\)/);
    assert.match(help, /--ticket-face-value\s+.*\(default: 1000000000; env CASTNET_TICKET_FACE_VALUE\)/);
    assert.match(help, /--public-url\s+.*\(default: none; env CASTNET_PUBLIC_URL\)/);
    assert.match(helpText('broadcaster', 'B.', broadcasterOptionsDefinition), /--ladder\s+.*\(default: 720p30:2800k,480p30:1200k,360p30:700k;/);
  });
});
