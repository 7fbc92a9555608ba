// bench/latency: the Castnet network a case watches, as its own process (so its event loop does not delay the
// publisher's frame clock in the bench's process): orchestrator, transcoder, origin relay and broadcaster
// through the role factories (test/support/network.ts), on loopback ports, with the ladder and low-latency
// setting the case asks for. Usage: node bench/latency/castnet-network.ts '{"ladder":"360p30:700k","lowLatency":false}'.
// Prints one line `CASTNET_NETWORK {json}` (RTMP URL with stream key, origin relay, orchestrator, playback id)
// once everything is up; stops on SIGTERM or when its stdin closes (the bench died).

import { parseLadder } from '../../protocol/rendition.ts';
import { startNetwork } from '../../test/support/network.ts';

// Types only: run.ts imports them with `import type` (this file runs when imported).
export interface CastnetNetworkSpec {
  /** Rungs below the source, as --ladder takes them ('' here means none: no transcoding). */
  ladder: string;
  lowLatency: boolean;
  partTarget?: number;
}

export interface CastnetNetworkInfo {
  rtmpUrl: string;
  originUrl: string;
  orchestratorUrl: string;
  playbackId: string;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as CastnetNetworkSpec;
const net = await startNetwork({ ladder: spec.ladder === '' ? [] : parseLadder(spec.ladder), lowLatency: spec.lowLatency, ...(spec.partTarget ? { partTarget: spec.partTarget } : {}) }, { encoder: 'libx264' });
const { streamKey, playbackId } = net.broadcaster.keys.add(undefined, undefined, 'dev');
const info: CastnetNetworkInfo = { rtmpUrl: `${net.broadcaster.rtmpUrl}/${streamKey}`, originUrl: net.relay.url, orchestratorUrl: net.orchestrator.url, playbackId };
process.stdout.write(`CASTNET_NETWORK ${JSON.stringify(info)}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await net.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();
