// Attack: a malicious parent relay, in its own process on its own address. It relays the honest origin's
// playlists as they are (so an edge follows it), and answers every segment with a forgery, in turn: the
// bytes changed under the honest signature, the signature stripped, its own bytes signed by its own key,
// and another segment's bytes and headers. Prints `{"listening": url}` first; on a line `stop` on stdin
// prints its report (what it forged, by kind) and exits.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { identityFromPrivateKey } from '../../../protocol/identity.ts';
import { CONTENT_SIGNATURE_HEADER } from '../../../protocol/content-signature.ts';
import { signSegmentBytes } from '../../../protocol/segment-signing.ts';
import { parseSegmentMetadata } from '../../../protocol/segment-metadata.ts';
import { ATTACKER_ADDRESS, attackArgs, attackerFetch, finish } from '../../support/attacker.ts';

const args = attackArgs<{ origin: string }>();
const attacker = identityFromPrivateKey(secp256k1.utils.randomSecretKey());
const KINDS = ['tampered', 'unsigned', 'own-key', 'other-segment'] as const;
const forged: Record<string, number> = {};
let segments = 0;

const server = createServer((req, res) => {
  void (async () => {
    const path = req.url ?? '/';
    const upstream = await attackerFetch(`${args.origin}${path}`, { signal: AbortSignal.timeout(20_000) });
    const headers: Record<string, string> = {};
    for (const [k, v] of upstream.headers) if (k !== 'content-length' && k !== 'content-encoding' && k !== 'transfer-encoding' && k !== 'connection') headers[k] = v;
    let body = new Uint8Array(await upstream.arrayBuffer());
    const m = /^\/hls\/([^/]+)\/([^/]+)\/(\d+)\.ts$/.exec(path);
    if (m && upstream.ok) {
      const kind = KINDS[segments++ % KINDS.length]!;
      forged[kind] = (forged[kind] ?? 0) + 1;
      if (kind === 'tampered') {
        body = Uint8Array.from(body);
        body[body.length - 1] ^= 0xff;
      } else if (kind === 'unsigned') {
        delete headers[CONTENT_SIGNATURE_HEADER];
      } else if (kind === 'own-key') {
        const meta = parseSegmentMetadata(headers);
        body = Uint8Array.from(body).fill(0xff, 189);
        headers[CONTENT_SIGNATURE_HEADER] = signSegmentBytes(attacker.privateKey, { playbackId: m[1]!, rendition: m[2]!, seq: Number(m[3]) }, meta, body);
      } else {
        const other = await attackerFetch(`${args.origin}/hls/${m[1]}/${m[2]}/${Math.max(0, Number(m[3]) - 1)}.ts`);
        body = new Uint8Array(await other.arrayBuffer());
        for (const [k, v] of other.headers) if (k.startsWith('castnet-')) headers[k] = v;
      }
    }
    res.writeHead(upstream.status, { ...headers, 'content-length': body.length });
    res.end(body);
  })().catch(() => res.destroy());
});
await new Promise<void>((r) => server.listen(0, ATTACKER_ADDRESS, r));
process.stdout.write(`${JSON.stringify({ listening: `http://${ATTACKER_ADDRESS}:${(server.address() as AddressInfo).port}` })}\n`);
process.stdin.setEncoding('utf8');
process.stdin.on('data', (line: string) => {
  if (line.includes('stop')) finish({ forged, segments });
});
