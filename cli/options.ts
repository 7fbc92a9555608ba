// Turns a role's flags into its typed options. Precedence: CLI flags, then CASTNET_* environment
// variables, then a JSON config file (--config), then the role's defaults; --help prints all of them.

import { readFileSync } from 'node:fs';

export interface OptionSpec<O> {
  key: keyof O & string;
  flag: string;
  description: string;
}

type Value = string | number | boolean;

function envName(flag: string): string {
  return `CASTNET_${flag.replace(/-/g, '_').toUpperCase()}`;
}

function coerce(raw: string | boolean, like: Value, flag: string): Value {
  if (typeof like === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new Error(`--${flag} takes true or false, not "${raw}"`);
  }
  if (typeof raw === 'boolean') throw new Error(`--${flag} needs a value`);
  if (typeof like === 'number') {
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new Error(`--${flag} takes a number, not "${raw}"`);
    return n;
  }
  return raw;
}

/** Parses `--flag value`, `--flag=value`, `--flag` (true) and `--no-flag` (false). */
export function parseFlags(argv: string[]): { flags: Map<string, string | boolean>; positional: string[] } {
  const flags = new Map<string, string | boolean>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    if (eq > 0) {
      flags.set(arg.slice(2, eq), arg.slice(eq + 1));
    } else if (arg.startsWith('--no-')) {
      flags.set(arg.slice(5), false);
    } else {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        flags.set(arg.slice(2), next);
        i++;
      } else {
        flags.set(arg.slice(2), true);
      }
    }
  }
  return { flags, positional };
}

export function resolveOptions<O extends object>(
  specs: ReadonlyArray<OptionSpec<O>>,
  defaults: O,
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): O {
  const { flags } = parseFlags(argv);
  const known = new Set([...specs.map((s) => s.flag), 'config', 'help']);
  for (const flag of flags.keys()) if (!known.has(flag)) throw new Error(`unknown option --${flag} (see --help)`);
  const configPath = flags.get('config') ?? env.CASTNET_CONFIG;
  const config: Record<string, unknown> = typeof configPath === 'string' ? (JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>) : {};
  const result = { ...defaults } as Record<string, Value>;
  for (const spec of specs) {
    const like = (defaults as Record<string, Value>)[spec.key]!;
    const fromFlag = flags.get(spec.flag);
    const fromEnv = env[envName(spec.flag)];
    const fromConfig = config[spec.key];
    if (fromFlag !== undefined) result[spec.key] = coerce(fromFlag, like, spec.flag);
    else if (fromEnv !== undefined) result[spec.key] = coerce(fromEnv, like, spec.flag);
    else if (fromConfig !== undefined) result[spec.key] = coerce(typeof fromConfig === 'boolean' ? fromConfig : String(fromConfig), like, spec.flag);
  }
  return result as O;
}

export function helpText<O extends object>(command: string, summary: string, specs: ReadonlyArray<OptionSpec<O>>, defaults: O): string {
  const rows = specs.map((s) => {
    const d = (defaults as Record<string, Value>)[s.key];
    const shown = typeof d === 'boolean' ? (d ? 'true' : 'false') : d === '' ? '""' : d === null ? 'none' : String(d);
    return [`  --${s.flag}`, `${s.description} (default: ${shown}; env ${envName(s.flag)})`] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length), 10) + 2;
  return [
    `Usage: castnet ${command} [options]`,
    '',
    summary,
    '',
    'Options:',
    ...rows.map(([f, d]) => `${f.padEnd(width)}${d}`),
    `${'  --config <file>'.padEnd(width)}JSON file of options by name (env CASTNET_CONFIG)`,
    `${'  --help'.padEnd(width)}Show this help`,
  ].join('\n');
}
