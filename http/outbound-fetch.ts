// The fetch every request to another node goes through (broadcaster → transcoder and relay, relay → parent,
// orchestrator → a node's URL challenge): only http(s) without userinfo; no private, loopback or link-local
// address unless private nodes are allowed, checked on the literal host and on every address a name
// resolves to, at connect time (so a name that rebinds between check and connect cannot slip through);
// redirects are never followed. Bodies are read by the callers with readLimited.

import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { Agent } from 'undici';
import { ReasonedError } from '../protocol/errors.ts';
import { ipLiteralOf, isPrivateAddress } from '../protocol/node-url.ts';

export type Fetch = typeof globalThis.fetch;

/** Why an outbound request was not made (or its answer not taken). */
export type OutboundRefusal = 'url_scheme' | 'url_userinfo' | 'private_address' | 'redirect';

/** Thrown instead of answering: callers see it as a node that cannot be reached, with this message. */
export class OutboundRefusedError extends ReasonedError<OutboundRefusal> {
  constructor(reason: OutboundRefusal, message: string) {
    super('OutboundRefusedError', reason, message);
  }
}

export interface OutboundPolicy {
  /** Loopback and private addresses allowed (one machine, a LAN, tests): --allow-private-nodes. */
  allowPrivate: boolean;
  /** Origins an operator configured (a relay's --parents): trusted to be private. */
  trustedOrigins?: ReadonlyArray<string>;
  /** Told about each refusal, for metrics. */
  onRefused?: (reason: OutboundRefusal, url: string) => void;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup that fails when any address of the name is not public: what the connection may use is what was checked. */
function publicOnlyLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const blocked = addresses.find((a) => isPrivateAddress(a.address));
    if (blocked) {
      const refused = new OutboundRefusedError('private_address', `${hostname} resolves to ${blocked.address}, a private or loopback address (allowed only with --allow-private-nodes)`) as OutboundRefusedError & { code: string };
      refused.code = 'EPRIVATEADDRESS';
      return callback(refused, []);
    }
    if (options.all) return callback(null, addresses);
    const first = addresses[0]!;
    callback(null, first.address, first.family);
  });
}

let publicAgent: Agent | null = null;
/** One connection pool for public-only requests, made on first use. */
function publicOnlyAgent(): Agent {
  publicAgent ??= new Agent({ connect: { lookup: publicOnlyLookup as never } });
  return publicAgent;
}

/** The refusal of `url` under `policy` before any connection, or null. */
export function outboundRefusal(url: URL, policy: OutboundPolicy): OutboundRefusedError | null {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return new OutboundRefusedError('url_scheme', `${url.protocol} URLs are not fetched from nodes (http and https only)`);
  if (url.username || url.password) return new OutboundRefusedError('url_userinfo', 'a node URL with a user name or password is not fetched');
  if (policy.allowPrivate || policy.trustedOrigins?.includes(url.origin)) return null;
  const ip = ipLiteralOf(url);
  if (ip !== null && isPrivateAddress(ip)) return new OutboundRefusedError('private_address', `${ip} is a private or loopback address (allowed only with --allow-private-nodes)`);
  return null;
}

/** A fetch that applies `policy` to every request it makes with `base`. */
export function outboundFetch(policy: OutboundPolicy, base: Fetch = globalThis.fetch): Fetch {
  const refuse = (err: OutboundRefusedError, url: string): never => {
    policy.onRefused?.(err.reason, url);
    throw err;
  };
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const refusal = outboundRefusal(url, policy);
    if (refusal) refuse(refusal, url.href);
    const checkResolved = !policy.allowPrivate && !policy.trustedOrigins?.includes(url.origin) && ipLiteralOf(url) === null;
    let res: Response;
    try {
      res = await base(input, { ...init, redirect: 'manual', ...(checkResolved ? { dispatcher: publicOnlyAgent() } : {}) } as RequestInit);
    } catch (err) {
      const cause = (err as Error).cause;
      if (cause instanceof OutboundRefusedError) refuse(cause, url.href);
      throw err;
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => {});
      refuse(new OutboundRefusedError('redirect', `${url.origin} answered ${res.status} (a redirect${res.headers.get('location') ? ` to ${res.headers.get('location')}` : ''}): redirects between nodes are not followed`), url.href);
    }
    return res;
  };
}
