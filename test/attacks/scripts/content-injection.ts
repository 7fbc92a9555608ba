// Attack: write into a live stream at its origin relay without the publisher's key, from its own process and
// address. Against the newest segment of the honest stream: a segment with no signature, one signed by the
// attacker's key, a replacement of a published segment, the honest bytes and signature moved to another
// sequence number, a far-future sequence number (unsigned and signed), a program date time from another
// time, and the descriptor and the end of the stream unsigned or signed by the attacker. Reports each
// answer, and whether the published segment is still the publisher's bytes afterwards.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { identityFromPrivateKey } from '../../../protocol/identity.ts';
import { segmentMetadataHeaders, type SegmentMetadata } from '../../../protocol/segment-metadata.ts';
import { CONTENT_SIGNATURE_HEADER } from '../../../protocol/content-signature.ts';
import { signSegmentBytes } from '../../../protocol/segment-signing.ts';
import { signRequest } from '../../../protocol/signed-request.ts';
import { attackArgs, attackerFetch, attempt, finish, rawRequest } from '../../support/attacker.ts';

const args = attackArgs<{ relay: string; playbackId: string }>();
const attacker = identityFromPrivateKey(secp256k1.utils.randomSecretKey());
const base = `${args.relay}/hls/${args.playbackId}`;

const playlist = await (await attackerFetch(`${base}/source/index.m3u8`)).text();
const newest = Math.max(...[...playlist.matchAll(/^(\d+)\.ts$/gm)].map((m) => Number(m[1])));
const honest = await attackerFetch(`${base}/source/${newest}.ts`);
const honestBytes = new Uint8Array(await honest.arrayBuffer());
const honestHeaders = Object.fromEntries([...honest.headers].filter(([k]) => k.startsWith('castnet-')));
const injected = new Uint8Array(188 * 50);
for (let i = 0; i < injected.length; i += 188) injected[i] = 0x47;
const now = (): SegmentMetadata => ({ duration: 2, programDateTime: new Date().toISOString(), discontinuity: false });
const put = (seq: number, headers: Record<string, string>, body: Uint8Array<ArrayBuffer>) => rawRequest(`${base}/source/${seq}.ts`, { method: 'PUT', headers: { 'content-type': 'video/mp2t', ...headers }, body });
const signed = (seq: number, meta: SegmentMetadata, body: Uint8Array) => ({ ...segmentMetadataHeaders(meta), [CONTENT_SIGNATURE_HEADER]: signSegmentBytes(attacker.privateKey, { playbackId: args.playbackId, rendition: 'source', seq }, meta, body) });

await attempt('unsigned', () => put(newest + 1, segmentMetadataHeaders(now()), injected));
await attempt('own-key', () => put(newest + 1, signed(newest + 1, now(), injected), injected));
await attempt('replace', () => put(newest, signed(newest, now(), injected), injected));
await attempt('moved', () => put(newest + 2, honestHeaders, honestBytes));
await attempt('far-future-unsigned', () => put(999_999_999_999, segmentMetadataHeaders(now()), injected));
await attempt('far-future-signed', () => put(999_999_999_999, signed(999_999_999_999, now(), injected), injected));
const old = { duration: 2, programDateTime: new Date(Date.now() - 3_600_000).toISOString(), discontinuity: false };
await attempt('another-time', () => put(newest + 1, signed(newest + 1, old, injected), injected));

const descriptor = new TextEncoder().encode(JSON.stringify({ targetDuration: 60, variants: [{ name: 'source', width: 16, height: 16, bandwidth: 1, codecs: 'avc1.64001e' }] }));
const path = `/hls/${args.playbackId}`;
await attempt('descriptor-unsigned', () => rawRequest(`${args.relay}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: descriptor }));
await attempt('descriptor-own-key', () => rawRequest(`${args.relay}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json', ...signRequest(attacker, { method: 'PUT', path, body: descriptor, timestamp: Date.now() }) }, body: descriptor }));
await attempt('end-own-key', () => rawRequest(`${args.relay}${path}/end`, { method: 'POST', headers: signRequest(attacker, { method: 'POST', path: `${path}/end`, timestamp: Date.now() }) }));

const after = new Uint8Array(await (await attackerFetch(`${base}/source/${newest}.ts`)).arrayBuffer());
finish({ newest, unchanged: Buffer.from(after).equals(Buffer.from(honestBytes)) });
