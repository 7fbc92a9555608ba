// The data-path clients with an injected fetch: what goes out, and how refusals come back as CastnetErrors.

import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { RelayClient, TranscoderClient, type Fetch } from './node-clients.ts';
import { identityFromPrivateKey } from '../protocol/identity.ts';
import { RequestVerifier, SIGNED_REQUEST_HEADERS } from '../protocol/signed-request.ts';

const publisher = identityFromPrivateKey(secp256k1.utils.randomSecretKey());

function recordingFetch(answer: () => Response): { fetch: Fetch; calls: Array<{ url: string; init: RequestInit | undefined }> } {
  const calls: Array<{ url: string; init: RequestInit | undefined }> = [];
  return {
    calls,
    fetch: async (input, init) => {
      calls.push({ url: String(input), init });
      return answer();
    },
  };
}

describe('node clients', () => {
  it("ends a stream at its relay with POST /hls/<id>/end, signed by the stream's publisher key", async () => {
    const { fetch, calls } = recordingFetch(() => new Response(null, { status: 204 }));
    await new RelayClient({ fetch }).endStream('http://relay.test', 'abc123', publisher);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.url, 'http://relay.test/hls/abc123/end');
    assert.equal(calls[0]!.init?.method, 'POST');
    const headers = new Headers(calls[0]!.init?.headers);
    assert.equal(headers.get(SIGNED_REQUEST_HEADERS.address), publisher.address);
    const signer = new RequestVerifier().verify({ method: 'POST', path: '/hls/abc123/end', body: new Uint8Array(0), header: (h) => headers.get(h) ?? undefined });
    assert.equal(signer, publisher.address);
  });

  it('turns a relay refusal into a CastnetError with the relay and the status', async () => {
    const { fetch } = recordingFetch(() => Response.json({ error: { code: 'STREAM_NOT_FOUND', message: 'no such stream' } }, { status: 404 }));
    await assert.rejects(new RelayClient({ fetch }).endStream('http://relay.test', 'abc123', publisher), (err: Error & { code?: string; context?: Record<string, unknown> }) => {
      assert.equal(err.code, 'STREAM_NOT_FOUND');
      assert.equal(err.context?.node, 'http://relay.test');
      assert.equal(err.context?.status, 404);
      return true;
    });
  });

  it('accepts a fractional transcode timeout (rounded up to whole milliseconds)', async () => {
    const { fetch, calls } = recordingFetch(() => Response.json({ error: { code: 'PAYMENT_REQUIRED', message: 'stale', reason: 'expired' } }, { status: 402 }));
    const params = { playbackId: 'abc123', seq: 7, renditions: [], sourceFps: 30, sourceAudio: 'aac' };
    await assert.rejects(new TranscoderClient({ fetch }).transcode('http://t.test', Buffer.alloc(188), params, 33_333.332), { code: 'PAYMENT_REQUIRED' });
    assert.equal(calls[0]!.url, 'http://t.test/transcode');
    assert.ok(calls[0]!.init?.signal instanceof AbortSignal);
  });
});
