// Node URLs: plain http(s) origins only, and which addresses count as private.

import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { isPrivateAddress, nodeUrlRefusal, nodeUrlSchema } from './node-url.ts';

describe('node URLs', () => {
  it('accepts an http or https origin, with or without a trailing slash', () => {
    for (const url of ['http://relay.example.net:8080', 'https://relay.example.net/', 'http://203.0.114.7:8936']) assert.equal(nodeUrlRefusal(url, { allowPrivate: false }), null, url);
    assert.equal(nodeUrlSchema.parse('https://relay.example.net/'), 'https://relay.example.net');
  });

  it('refuses a path, query or fragment (the /metrics# trick), userinfo and other schemes, each with its reason', () => {
    const cases: Array<[string, string]> = [
      ['http://127.0.0.1:9000/metrics#', 'url_not_origin'],
      ['http://relay.example.net/#', 'url_not_origin'],
      ['http://relay.example.net/?', 'url_not_origin'],
      ['http://relay.example.net/hls', 'url_not_origin'],
      ['http://user:pw@relay.example.net', 'url_userinfo'],
      ['http://@relay.example.net', 'url_userinfo'],
      ['file:///etc/passwd', 'url_scheme'],
      ['gopher://relay.example.net', 'url_scheme'],
      ['not a url', 'url_malformed'],
    ];
    for (const [url, reason] of cases) assert.equal(nodeUrlRefusal(url, { allowPrivate: true })?.reason, reason, url);
    const parsed = nodeUrlSchema.safeParse('http://127.0.0.1:9000/metrics#');
    assert.equal(parsed.success, false);
  });

  it('refuses loopback, private, link-local and mapped addresses unless private nodes are allowed', () => {
    for (const url of ['http://127.0.0.1:1', 'http://10.0.0.0:1', 'http://192.168.1.2', 'http://169.254.169.254', 'http://[::1]:8080', 'http://[fd00::1]', 'http://[::ffff:127.0.0.1]', 'http://0.0.0.0', 'http://2130706433', 'http://0x7f.1']) {
      assert.equal(nodeUrlRefusal(url, { allowPrivate: false })?.reason, 'private_address', url);
      assert.equal(nodeUrlRefusal(url, { allowPrivate: true }), null, url);
    }
  });

  it('tells private addresses from public ones', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '100.64.0.1', '::1', 'fe80::1', '::ffff:7f00:1']) assert.ok(isPrivateAddress(a), a);
    for (const a of ['8.8.8.8', '172.32.0.1', '2606:4700::1111', '1.1.1.1']) assert.ok(!isPrivateAddress(a), a);
    assert.ok(!isPrivateAddress('relay.example.net'), 'a name is resolved, not judged');
  });
});
