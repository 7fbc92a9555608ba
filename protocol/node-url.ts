// What a node's URL may be, and which addresses are private. A node URL is a plain http(s) origin: no
// userinfo, no path, query or fragment (a URL registered as `http://127.0.0.1:9/metrics#` would turn every
// `${url}/hls/…` request into a fetch of /metrics), and its host is not a loopback, private, link-local or
// otherwise non-public address unless the deployment allows private nodes (one machine, a LAN).

import { BlockList, isIP } from 'node:net';
import { z } from 'zod';

/** Addresses no public node has: loopback, RFC 1918, CGNAT, link-local, multicast, documentation, reserved. */
const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NON_PUBLIC.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  // NAT64 addresses reach IPv4 hosts: none is a node's address. (IPv4-mapped ones are refused in
  // isPrivateAddress: a BlockList matches IPv4 addresses against a ::ffff:0:0/96 rule too.)
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  NON_PUBLIC.addSubnet(net, prefix, 'ipv6');
}

/** Whether an IP address (v4 or v6, without brackets) is loopback, private or otherwise not public. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return NON_PUBLIC.check(address, 'ipv4');
  // 127.0.0.1 as ::ffff:7f00:1 (or ::ffff:127.0.0.1): an IPv4 host in IPv6 clothing, never a node's address.
  if (family === 6) return /^::ffff:/i.test(address) || NON_PUBLIC.check(address, 'ipv6');
  return false;
}

/** The host of a URL as an IP literal without brackets, or null when it is a name. */
export function ipLiteralOf(url: URL): string | null {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return isIP(host) ? host : null;
}

/** Why a URL is not a node URL (the stable `reason` of the refusal), or null when it is one. */
export type NodeUrlRefusal = 'url_malformed' | 'url_scheme' | 'url_userinfo' | 'url_not_origin' | 'private_address';

export function nodeUrlRefusal(value: string, options: { allowPrivate: boolean }): { reason: NodeUrlRefusal; message: string } | null {
  if (!URL.canParse(value)) return { reason: 'url_malformed', message: 'is not a URL' };
  const url = new URL(value);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { reason: 'url_scheme', message: `must be http or https, not ${url.protocol.replace(/:$/, '')}` };
  if (url.username || url.password || value.slice(url.protocol.length).split(/[/?#]/, 3)[2]?.includes('@')) return { reason: 'url_userinfo', message: 'must not carry a user name or password' };
  // Checked on the text as well as the parsed URL: `http://h/#` parses to an empty hash.
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || /[?#]/.test(value)) return { reason: 'url_not_origin', message: 'must be an origin (scheme, host and port) with no path, query or fragment' };
  const ip = ipLiteralOf(url);
  if (!options.allowPrivate && ip !== null && isPrivateAddress(ip)) return { reason: 'private_address', message: `names a private or loopback address (${ip}); allowed only with --allow-private-nodes` };
  return null;
}

/** A node's URL as it travels in registrations, records and assignments: an http(s) origin, without the trailing slash. */
export const nodeUrlSchema = z
  .string()
  .max(2_048)
  .superRefine((value, ctx) => {
    const refusal = nodeUrlRefusal(value, { allowPrivate: true });
    if (refusal) ctx.addIssue({ code: 'custom', message: `node URL ${refusal.message}`, params: { reason: refusal.reason } });
  })
  .transform((s) => s.replace(/\/$/, ''));
