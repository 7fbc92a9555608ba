import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { CastnetError, errorResponse } from './errors.ts';

describe('error responses', () => {
  it('answer clients without the peer URLs, file paths and node context a message or its context names', () => {
    const err = new CastnetError('UPSTREAM_FAILED', 'parent relay: http://10.0.0.7:8080/hls/x/source/index.m3u8 could not be reached (connect ECONNREFUSED 10.0.0.7:8080); cache at /var/lib/castnet/segments/x-1/3.ts', {
      node: 'http://10.0.0.7:8080',
      file: '/var/lib/castnet/stream-keys.json',
      playbackId: 'x',
      reason: 'unreachable',
    });
    const { status, body } = errorResponse(err);
    assert.equal(status, 502);
    const text = JSON.stringify(body);
    assert.doesNotMatch(text, /10\.0\.0\.7|\/var\/lib/);
    assert.equal(body.error.code, 'UPSTREAM_FAILED');
    assert.equal(body.error['playbackId'], 'x');
    assert.equal(body.error['reason'], 'unreachable');
    assert.equal(body.error['node'], undefined);
    assert.match(body.error.message, /^parent relay: \(another node\) could not be reached \(connect ECONNREFUSED \(an address\)\)/);
  });

  it('keeps the paths of routes a client asked for', () => {
    assert.equal(errorResponse(new CastnetError('NOT_FOUND', 'no route for GET /hls/abc/source/9.ts')).body.error.message, 'no route for GET /hls/abc/source/9.ts');
  });
});
