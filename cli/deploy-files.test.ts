// deploy/ is not built or run here (no container runtime), so its commands are checked as the CLI reads
// them: every role's command line in compose.yaml and the systemd units parses with that role's options,
// and every URL one container announces names a host the other containers can resolve.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { broadcasterOptionsDefinition } from '../broadcaster/options.ts';
import type { OptionsDefinition, OptionTable } from '../config/option-table.ts';
import { orchestratorOptionsDefinition } from '../orchestrator/options.ts';
import { relayOptionsDefinition } from '../relay/options.ts';
import { transcoderOptionsDefinition } from '../transcoder/options.ts';
import { resolveOptions } from './options.ts';

const root = join(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const definitions: Record<string, OptionsDefinition<OptionTable>> = {
  orchestrator: orchestratorOptionsDefinition as unknown as OptionsDefinition<OptionTable>,
  transcoder: transcoderOptionsDefinition as unknown as OptionsDefinition<OptionTable>,
  relay: relayOptionsDefinition as unknown as OptionsDefinition<OptionTable>,
  broadcaster: broadcasterOptionsDefinition as unknown as OptionsDefinition<OptionTable>,
};
/** What the Dockerfile sets for every container. */
const imageEnv = { CASTNET_HOST: '0.0.0.0', CASTNET_DATA_DIR: '/var/lib/castnet' };

/** compose.yaml's services and their `command: [...]` (JSON arrays in the file). */
function composeCommands(): Map<string, string[]> {
  const services = new Map<string, string[]>();
  let service: string | null = null;
  for (const line of read('deploy/compose.yaml').split('\n')) {
    const name = /^ {2}([a-z-]+):\s*$/.exec(line);
    if (name) service = name[1]!;
    const command = /^ {4}command: (\[.*\])\s*$/.exec(line);
    if (command && service) services.set(service, JSON.parse(command[1]!) as string[]);
  }
  return services;
}

describe('deploy/', () => {
  it('compose.yaml starts every role with options its CLI accepts', () => {
    const services = composeCommands();
    assert.deepEqual([...services.keys()].sort(), ['broadcaster', 'orchestrator', 'relay', 'transcoder']);
    for (const [service, [role, ...args]] of services) {
      assert.equal(role, service, `${service} runs castnet ${role}`);
      assert.doesNotThrow(() => resolveOptions(definitions[role!]!, args, { env: imageEnv, warn: () => {} }), service);
    }
  });

  it('compose.yaml announces only URLs the other containers resolve, and points every node at the orchestrator', () => {
    const services = composeCommands();
    for (const [service, [role, ...args]] of services) {
      const options = resolveOptions(definitions[role!]!, args, { env: imageEnv, warn: () => {} }) as { publicUrl?: string | null; orchestrator?: string | false | null };
      // The orchestrator proves each node's URL by fetching it, and the broadcaster pushes to it: a name
      // such as localhost would be the fetching container itself.
      if (options.publicUrl) assert.ok(services.has(new URL(options.publicUrl).hostname), `${service} announces ${options.publicUrl}, which the other containers cannot reach`);
      if (role !== 'orchestrator') assert.equal(options.orchestrator, 'http://orchestrator:8935', `${service} finds the orchestrator`);
    }
  });

  it('each systemd unit runs its role with a config file its CLI accepts', () => {
    for (const role of Object.keys(definitions)) {
      const unit = read(`deploy/systemd/castnet-${role}.service`);
      const exec = /^ExecStart=\S+ bin\/castnet\.js (\S+) --config (\S+)$/m.exec(unit);
      assert.ok(exec, `castnet-${role}.service has an ExecStart`);
      assert.equal(exec[1], role);
      assert.equal(exec[2], `/etc/castnet/${role}.json`);
      const env = Object.fromEntries([...unit.matchAll(/^Environment=(\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
      // The unit's file is one of docs/config's samples, adapted.
      const options = resolveOptions(definitions[role]!, ['--config', join(root, 'docs', 'config', `${role}.json`)], { env, warn: () => {} }) as { dataDir: string | null };
      assert.equal(options.dataDir, `/var/lib/castnet/${role}`, 'the data directory is the unit\'s state directory');
      assert.match(unit, new RegExp(`^StateDirectory=castnet/${role}$`, 'm'));
    }
  });
});
