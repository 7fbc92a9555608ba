// `castnet nodes list|allow|deny|clear`: the operator's view and control of which node keys the orchestrator
// admits. `list` reads the public node list and admission lists; `allow`, `deny` and `clear` are signed by
// the operator's key (<data-dir>/keys/operator.key, or --operator-key) and persist in the orchestrator's
// data directory (nodes.sqlite), taking effect at once: a denied node is taken out of scheduling, an
// allowed one admitted under --admission allowlist and cleared of any ban.

import { defaultBroadcasterOptions } from '../broadcaster/options.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import { dataDirFrom } from './keys.ts';
import { parseFlags } from './options.ts';
import { describeRemoteFailure } from './remote-failure.ts';
import { table } from './status.ts';
import { operatorIdentity } from './wallet.ts';

export const nodesUsage = `Usage: castnet nodes list [--orchestrator URL]
       castnet nodes allow|deny|clear <address> [--data-dir ./.castnet] [--operator-key <file>] [--orchestrator URL]

list    every registered node with its state (pending-proof, active, unproven, banned) and score, the
        admission mode, the allow and deny lists, and the bans in force
allow   admits a node key (needed under --admission allowlist) and lifts its ban
deny    refuses a node key: it is taken out of scheduling and cannot register again
clear   takes a key off both lists
allow, deny and clear are signed by the orchestrator's operator key.
`;

type Out = (s: string) => void;

export async function runNodes(argv: string[], out: Out = (s) => process.stdout.write(s)): Promise<number> {
  const { flags, positional } = parseFlags(argv);
  const [action, address] = positional;
  if (flags.has('help') || action === undefined) {
    out(nodesUsage);
    return action === undefined && !flags.has('help') ? 2 : 0;
  }
  const base = String(flags.get('orchestrator') ?? process.env['CASTNET_ORCHESTRATOR'] ?? defaultBroadcasterOptions.orchestrator).replace(/\/$/, '');
  if (action === 'list') {
    const client = new OrchestratorClient(base);
    try {
      const [nodes, admission] = await Promise.all([client.nodes(), client.admission()]);
      const rows = nodes.map((n) => [n.id, n.role, n.url, n.state, n.score.toFixed(2), n.stateReason ?? '']);
      out(`orchestrator ${base}  admission ${admission.mode}  operators ${admission.operators.join(', ')}\n\n`);
      out(`nodes (${nodes.length})\n${nodes.length ? table(['ADDRESS', 'ROLE', 'URL', 'STATE', 'SCORE', 'WHY'], rows) : '  none registered'}\n\n`);
      const listed = admission.entries.map((e) => [e.address, e.list, e.changedAt]);
      out(`admission lists (${listed.length})\n${listed.length ? table(['ADDRESS', 'LIST', 'SINCE'], listed) : '  empty'}\n\n`);
      const bans = admission.bans.map((b) => [b.address, b.until, b.reason]);
      out(`bans (${bans.length})\n${bans.length ? table(['ADDRESS', 'UNTIL', 'WHY'], bans) : '  none'}\n`);
      return 0;
    } catch (err) {
      throw new Error(describeRemoteFailure(err, 'orchestrator', base));
    }
  }
  if (action !== 'allow' && action !== 'deny' && action !== 'clear') throw new Error(`castnet nodes: unknown action "${action}" (list, allow, deny, clear)`);
  if (!address || !/^0x[0-9a-fA-F]{40}$/.test(address)) throw new Error(`castnet nodes ${action} takes a node's address (0x and 40 hex digits, as castnet nodes list shows it)`);
  const operator = operatorIdentity(flags, dataDirFrom(flags));
  try {
    await new OrchestratorClient(base, { identity: operator }).setAdmission(address, action === 'clear' ? null : action);
    out(`${address.toLowerCase()} ${action === 'allow' ? 'allowed' : action === 'deny' ? 'denied' : 'taken off the admission lists'} at ${base}\n`);
    return 0;
  } catch (err) {
    throw new Error(describeRemoteFailure(err, 'orchestrator', base));
  }
}
