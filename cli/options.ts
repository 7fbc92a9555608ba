// Turns a role's flags, CASTNET_* environment variables and JSON config file into its typed options, through
// the one table the role defines (config/option-table.ts). Precedence: CLI flags, then environment, then the
// config file (--config), then the table's defaults. --help prints all of them.

import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { defaultsOf, type OptionDefinition, type OptionsDefinition, type OptionsOf, type OptionTable } from '../config/option-table.ts';

/** Flags every role takes besides its table's. */
const COMMON_FLAGS = ['config', 'help'];

export function envName(flag: string): string {
  return `CASTNET_${flag.replace(/-/g, '_').toUpperCase()}`;
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

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

/** The valid name a mistyped one most likely meant, or null when none is close. */
export function nearest(name: string, valid: readonly string[], renamed: ReadonlyMap<string, string> = new Map()): string | null {
  // A config written with option keys (dataDir) or an old flag name (api-port) maps straight to its flag.
  const kebab = name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
  if (renamed.has(kebab)) return renamed.get(kebab)!;
  let best: { name: string; score: number } | null = null;
  for (const candidate of valid) {
    // One word of a flag (port of http-port) counts as close as a typo.
    const score = candidate.split('-').includes(kebab) ? 1 : editDistance(kebab, candidate);
    if (!best || score < best.score) best = { name: candidate, score };
  }
  return best && best.score <= Math.max(2, Math.floor(kebab.length / 3)) ? best.name : null;
}

function parseValue<T>(o: OptionDefinition<T>, raw: unknown, where: string): T {
  if (raw === true && o.default !== true && o.default !== false) throw new Error(`${where} needs a value`);
  const parsed = (o.schema as z.ZodType<T>).safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const at = issue.path.length > 0 ? ` (item ${issue.path.join('.')})` : '';
  return fail(`${where} ${issue.message}${at}, not ${JSON.stringify(raw)}`);
}

function fail(message: string): never {
  throw new Error(message);
}

export interface ResolveSources {
  env?: NodeJS.ProcessEnv;
  /** Told about deprecated flags in use; stderr by default. */
  warn?: (message: string) => void;
}

/** Reads a JSON config file keyed by flag names, validated by the same schemas as the flags. */
export function readConfigFile<T extends OptionTable>(definition: OptionsDefinition<T>, path: string): Partial<OptionsOf<T>> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    return fail(`cannot read config ${path}: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail(`config ${path} must be a JSON object of options keyed by flag name`);
  const byFlag = flagIndex(definition);
  const result: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(json)) {
    const entry = byFlag.flags.get(key);
    if (!entry) {
      const guess = nearest(key, [...byFlag.flags.keys()], byFlag.renamed);
      return fail(`unknown option "${key}" in ${path}${guess ? `; did you mean "${guess}"?` : ''}`);
    }
    result[entry.key] = parseValue(entry.option, raw, `"${key}" in ${path}`);
  }
  return result as Partial<OptionsOf<T>>;
}

function flagIndex<T extends OptionTable>(definition: OptionsDefinition<T>) {
  const flags = new Map<string, { key: string; option: OptionDefinition<unknown> }>();
  const renamed = new Map<string, string>();
  for (const [key, option] of Object.entries(definition.table)) {
    flags.set(option.flag, { key, option });
    renamed.set(key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase(), option.flag);
    for (const old of option.deprecatedFlags ?? []) renamed.set(old, option.flag);
  }
  for (const flag of flags.keys()) renamed.delete(flag);
  return { flags, renamed };
}

/** Checks the combinations no single option can: the role's rules, each an error on its own. */
export function checkRules<T extends OptionTable>(definition: OptionsDefinition<T>, options: OptionsOf<T>): OptionsOf<T> {
  const broken = definition.rules.map((rule) => rule(options)).filter((m): m is string => m !== null);
  if (broken.length > 0) fail(broken.join('\n'));
  return options;
}

export function resolveOptions<T extends OptionTable>(definition: OptionsDefinition<T>, argv: string[], sources: ResolveSources = {}): OptionsOf<T> {
  const env = sources.env ?? process.env;
  const warn = sources.warn ?? ((m: string) => process.stderr.write(`castnet: ${m}\n`));
  const { flags, positional } = parseFlags(argv);
  if (positional.length > 0) fail(`unexpected argument "${positional[0]}" (options are --flag value)`);
  const index = flagIndex(definition);
  for (const given of [...flags.keys()]) {
    if (index.flags.has(given) || COMMON_FLAGS.includes(given)) continue;
    const current = index.renamed.get(given);
    if (current && Object.values(definition.table).some((o) => o.deprecatedFlags?.includes(given))) {
      warn(`--${given} is deprecated; use --${current}`);
      if (!flags.has(current)) flags.set(current, flags.get(given)!);
      flags.delete(given);
      continue;
    }
    const guess = nearest(given, [...index.flags.keys(), ...COMMON_FLAGS], index.renamed);
    fail(`unknown option --${given}${guess ? `; did you mean --${guess}?` : ''} (see --help)`);
  }
  const configPath = flags.get('config') ?? env.CASTNET_CONFIG;
  if (configPath === true || configPath === false) fail('--config needs a file');
  const config: Record<string, unknown> = configPath ? readConfigFile(definition, configPath) : {};
  const result: Record<string, unknown> = { ...defaultsOf(definition), ...config };
  for (const [key, option] of Object.entries(definition.table)) {
    const fromFlag = flags.get(option.flag);
    const envKey = [option.flag, ...(option.deprecatedFlags ?? [])].map(envName).find((name) => env[name] !== undefined);
    if (fromFlag !== undefined) result[key] = parseValue(option, fromFlag, `--${option.flag}`);
    else if (envKey !== undefined) {
      if (envKey !== envName(option.flag)) warn(`${envKey} is deprecated; use ${envName(option.flag)}`);
      result[key] = parseValue(option, env[envKey], envKey);
    }
  }
  return checkRules(definition, result as OptionsOf<T>);
}

function showDefault(o: OptionDefinition<unknown>): string {
  const v = o.default;
  if (o.show) return o.show(v);
  if (v === null) return 'none';
  if (Array.isArray(v)) return v.length === 0 ? 'none' : v.join(',');
  if (v === '') return '""';
  return String(v);
}

export function helpText<T extends OptionTable>(command: string, summary: string, definition: OptionsDefinition<T>): string {
  const rows = Object.values(definition.table).map((o) => [`  --${o.flag}`, `${o.description} (default: ${showDefault(o)}; env ${envName(o.flag)})`] as const);
  const width = Math.max(...rows.map(([f]) => f.length), 16) + 2;
  return [
    `Usage: castnet ${command} [options]`,
    '',
    summary,
    '',
    'Options:',
    ...rows.map(([f, d]) => `${f.padEnd(width)}${d}`),
    `${'  --config <file>'.padEnd(width)}JSON file of options keyed by the flag names above (env CASTNET_CONFIG)`,
    `${'  --help'.padEnd(width)}Show this help`,
  ].join('\n');
}
