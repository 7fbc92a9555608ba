// `castnet status`: the network as the orchestrator sees it, as two tables: its nodes (role, URL, encoder,
// load, price, health, earnings) and its live streams (renditions, relay, transcoders, viewers).

import { defaultBroadcasterOptions } from '../broadcaster/options.ts';
import type { NodeListing } from '../protocol/node-record.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import type { StreamDirectoryEntry } from '../protocol/stream-record.ts';
import { parseFlags } from './options.ts';
import { describeRemoteFailure } from './remote-failure.ts';
import { formatWei } from './wallet.ts';

export const statusUsage = `Usage: castnet status [--orchestrator URL]

Prints the nodes the orchestrator has registered and the streams it has assigned.
`;

/** Columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s ago` : `${Math.round(s / 60)}m ago`;
}

export function renderStatus(baseUrl: string, nodes: NodeListing[], streams: StreamDirectoryEntry[], now = Date.now()): string {
  const nodeRows = nodes.map((n) => [
    n.capabilities.edge ? 'relay (edge)' : n.role,
    n.url,
    n.role === 'transcoder' ? n.capabilities.encoders.join(',') || '-' : '-',
    `${n.load.sessions}/${n.capabilities.maxSessions} sessions, ${n.streams} assigned`,
    n.role === 'transcoder' ? `${n.capabilities.pricePerPixel} wei/px` : '-',
    `${n.state === 'active' ? '' : `${n.state}, `}${n.recentFailures === 0 ? 'ok' : `${n.recentFailures} failure report${n.recentFailures === 1 ? '' : 's'}`}, score ${n.score.toFixed(2)}, seen ${ago(n.lastSeenAt, now)}`,
    n.earned === '0' ? '0' : formatWei(n.earned),
  ]);
  // Viewers as the relays last reported them, summed over every relay serving the stream.
  const viewers = new Map<string, number>();
  for (const n of nodes) for (const s of n.stats ?? []) viewers.set(s.playbackId, (viewers.get(s.playbackId) ?? 0) + s.viewers);
  const streamRows = streams.map((s) => [
    s.playbackId,
    s.renditions.map((r) => r.name).join(',') || '-',
    s.relay,
    s.transcoders.join(',') || '-',
    viewers.has(s.playbackId) ? String(viewers.get(s.playbackId)) : '?',
  ]);
  return [
    `orchestrator ${baseUrl}`,
    '',
    `nodes (${nodes.length})`,
    nodes.length ? table(['ROLE', 'URL', 'ENCODER', 'LOAD', 'PRICE', 'HEALTH', 'EARNED'], nodeRows) : '  none registered',
    '',
    `streams (${streams.length})`,
    streams.length ? table(['PLAYBACK ID', 'RENDITIONS', 'RELAY', 'TRANSCODERS', 'VIEWERS'], streamRows) : '  none live',
    '',
  ].join('\n');
}

export async function runStatus(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const { flags } = parseFlags(argv);
  if (flags.has('help')) {
    out(statusUsage);
    return 0;
  }
  const base = String(flags.get('orchestrator') ?? process.env['CASTNET_ORCHESTRATOR'] ?? defaultBroadcasterOptions.orchestrator).replace(/\/$/, '');
  const client = new OrchestratorClient(base);
  try {
    const [nodes, streams] = await Promise.all([client.nodes(), client.streams()]);
    out(renderStatus(base, nodes, streams));
    return 0;
  } catch (err) {
    throw new Error(describeRemoteFailure(err, 'orchestrator', base));
  }
}
