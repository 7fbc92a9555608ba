// A role's options as one table: each option's flag, type (a zod schema), default and description written
// once; the options type, the defaults, the CLI and config-file parser and --help are all derived from it.
// Schemas take what a flag, an environment variable or a JSON config value carries and give the real type.

import { z } from 'zod';

export interface OptionDefinition<T> {
  /** The flag (`http-port`), which is also the config-file key and, as CASTNET_HTTP_PORT, the env name. */
  flag: string;
  /** Parses a flag/env string or a JSON value into the option's type. */
  schema: z.ZodType<T>;
  default: T;
  description: string;
  /** Older flag names still accepted on the command line, with a warning. */
  deprecatedFlags?: readonly string[];
  /** How the default is printed in --help, when `String()` would not say it. */
  show?: (value: T) => string;
}

export type OptionTable = Record<string, OptionDefinition<any>>;

export type OptionsOf<T extends OptionTable> = { -readonly [K in keyof T]: T[K] extends OptionDefinition<infer V> ? V : never };

/** A role's option table and the rules no single option can check (each returns why a combination is illegal). */
export interface OptionsDefinition<T extends OptionTable> {
  table: T;
  rules: ReadonlyArray<(options: OptionsOf<T>) => string | null>;
}

export function option<S extends z.ZodType>(definition: OptionDefinition<z.output<S>> & { schema: S }): OptionDefinition<z.output<S>> {
  return definition;
}

export function defineOptions<T extends OptionTable>(table: T, rules: OptionsDefinition<T>['rules'] = []): OptionsDefinition<T> {
  return { table, rules };
}

export function defaultsOf<T extends OptionTable>(definition: OptionsDefinition<T>): OptionsOf<T> {
  return Object.fromEntries(Object.entries(definition.table).map(([key, o]) => [key, o.default])) as OptionsOf<T>;
}

// Flags and env variables arrive as strings; config files as JSON values. Each schema accepts both.
const digits = (v: unknown) => (typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v);

export function integer(min: number, max: number, says: string) {
  return z.preprocess(digits, z.number({ error: says }).int({ error: says }).min(min, { error: says }).max(max, { error: says }));
}

export const port = integer(0, 65_535, 'takes a port from 0 to 65535');
export const durationMs = integer(1, 2 ** 31 - 1, 'takes a duration in milliseconds above 0');
export const count = integer(1, Number.MAX_SAFE_INTEGER, 'takes a whole number above 0');
export const size = integer(0, Number.MAX_SAFE_INTEGER, 'takes a whole number, 0 or more');

export const seconds = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v),
  z.number({ error: 'takes a number of seconds above 0' }).positive({ error: 'takes a number of seconds above 0' }),
);

/** Wei amounts are bigints: JSON numbers lose precision past 2^53, so large ones are written as strings. */
export const wei = z.preprocess(
  (v) => (typeof v === 'string' && /^\d{1,78}$/.test(v.trim()) ? BigInt(v.trim()) : typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : v),
  z.bigint({ error: 'takes an amount in wei (a whole number, 0 or more)' }),
);

export const flag = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  return v;
}, z.boolean({ error: 'takes true or false' }));

export const text = z.string({ error: 'takes a value' }).min(1, { error: 'takes a value' });

export const httpUrl = z
  .string({ error: 'takes an http(s) URL' })
  .refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), { error: 'takes an http(s) URL' })
  .transform((s) => s.replace(/\/+$/, ''));

/** '' (or JSON null) means none. */
export function orNone<T>(schema: z.ZodType<T>) {
  return z.preprocess((v) => (v === '' ? null : v), schema.nullable());
}

/**
 * A transcoder's or relay's orchestrator: a URL, or none ('', `none`, JSON null or false), read as false. The
 * option's default is null, "not given": learned from gossip with bootstrap peers, else the local default.
 */
export const orchestratorSetting = z.preprocess(
  (v) => (v === '' || v === null || (typeof v === 'string' && v.trim().toLowerCase() === 'none') ? false : v),
  // null stays in the type for the default only: every input null is read as false above.
  z.union([httpUrl, z.literal(false), z.null()], { error: "takes an http(s) URL, or '' / none for no orchestrator" }),
);

/** A comma-separated list on the command line, an array in a config file; '' is the empty list. */
export function listOf<T>(item: z.ZodType<T>, says: string) {
  return z.preprocess(
    (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
    z.array(item, { error: says }),
  );
}

/**
 * Whether nodes on loopback and private addresses are accepted and reached (one machine, a LAN): off on an
 * open network, where a node URL naming 127.0.0.1 or 10.x is an attempt to reach what is not public. Shared
 * by every role that talks to nodes it did not configure itself (orchestrator, broadcaster, relay).
 */
export function allowPrivateNodesOption() {
  return option({ flag: 'allow-private-nodes', schema: flag, default: false, description: 'accept and reach node URLs on loopback and private addresses (one machine, a LAN; on in castnet dev)' });
}

/** --host, the address a node listens on: the same option in every role. */
export const listenHost = () => option({ flag: 'host', schema: text, default: '127.0.0.1', description: 'listen address' });

export const multiaddr = z.string().regex(/^\/\S+$/, { error: 'takes libp2p multiaddrs such as /ip4/10.0.0.1/tcp/4001/p2p/12D3…' });

/**
 * The options every node that joins over libp2p shares (transcoders and relays): bootstrap peers, its
 * p2p port and announced addresses, how long it waits for the orchestrator's record, how often it
 * announces. Spread into a role's table; `gossipPresenceRules` go with them.
 */
export function gossipPresenceOptions(defaultP2pPort: number) {
  return {
    bootstrap: option({ flag: 'bootstrap', schema: listOf(multiaddr, 'takes libp2p multiaddrs'), default: [] as string[], description: 'comma-separated libp2p multiaddrs: announce over gossip instead of registering over HTTP' }),
    p2pPort: option({ flag: 'p2p-port', schema: port, default: defaultP2pPort, description: 'libp2p TCP port, with --bootstrap (0: any free port)' }),
    p2pAnnounce: option({ flag: 'p2p-announce', schema: listOf(multiaddr, 'takes libp2p multiaddrs'), default: [] as string[], description: "comma-separated multiaddrs peers dial this node at, e.g. behind NAT (none: the listen addresses, under --public-url's host when it is set)" }),
    orchestratorWaitMs: option({ flag: 'orchestrator-wait-ms', schema: durationMs, default: 15_000, description: "with --bootstrap and no --orchestrator: how long start waits for the orchestrator's record before refusing to start" }),
    announceIntervalMs: option({ flag: 'announce-interval-ms', schema: durationMs, default: 2_000, description: 'how often the signed capability record is gossiped' }),
  };
}

export const gossipPresenceRules = [
  (o: { p2pAnnounce: string[]; bootstrap: string[] }) =>
    o.p2pAnnounce.length > 0 && o.bootstrap.length === 0 ? '--p2p-announce names the libp2p host, which runs only with --bootstrap: give --bootstrap too' : null,
];

/**
 * Every node's HTTP limits (http/http-limits.ts), spread into each role's table; `httpLimitRules` go with them.
 * A role passes http's defaultHttpLimits, so the table and the guard cannot disagree.
 */
export function httpLimitOptions(d: { httpMaxConnections: number; httpMaxConnectionsPerIp: number; httpHeadersTimeoutMs: number; httpRequestTimeoutMs: number; httpUploadIdleMs: number }) {
  return {
    httpMaxConnections: option({ flag: 'http-max-connections', schema: count, default: d.httpMaxConnections, description: 'open HTTP connections at most; more are answered 503 TOO_MANY_CONNECTIONS and closed' }),
    httpMaxConnectionsPerIp: option({ flag: 'http-max-connections-per-ip', schema: count, default: d.httpMaxConnectionsPerIp, description: 'open HTTP connections from one address at most; more are answered 503 and closed' }),
    httpHeadersTimeoutMs: option({ flag: 'http-headers-timeout-ms', schema: durationMs, default: d.httpHeadersTimeoutMs, description: 'a request whose headers take longer is answered 408 and closed' }),
    httpRequestTimeoutMs: option({ flag: 'http-request-timeout-ms', schema: durationMs, default: d.httpRequestTimeoutMs, description: 'a request (headers and body) that takes longer to arrive is answered 408 and closed' }),
    httpUploadIdleMs: option({ flag: 'http-upload-idle-ms', schema: durationMs, default: d.httpUploadIdleMs, description: 'an upload that sends nothing for this long is answered 408 and closed' }),
  };
}

export const httpLimitRules = [
  (o: { httpHeadersTimeoutMs: number; httpRequestTimeoutMs: number }) =>
    o.httpHeadersTimeoutMs > o.httpRequestTimeoutMs ? '--http-headers-timeout-ms must not exceed --http-request-timeout-ms (the headers are part of the request)' : null,
];
