// The URL challenge: an answer proves only the key that signed it, for that nonce.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';
import { identityFromPrivateKey } from './identity.ts';
import { answerChallenge, provesAddress } from './url-challenge.ts';

describe('URL challenge', () => {
  const node = identityFromPrivateKey(randomBytes(32));
  const other = identityFromPrivateKey(randomBytes(32));
  const nonce = randomBytes(32).toString('hex');

  it("proves the signer's address for the nonce asked", () => {
    assert.ok(provesAddress(answerChallenge(nonce, node), nonce, node.address));
  });

  it('proves nothing for another key, another nonce, or an answer claiming another address', () => {
    assert.ok(!provesAddress(answerChallenge(nonce, other), nonce, node.address));
    assert.ok(!provesAddress(answerChallenge(randomBytes(32).toString('hex'), node), nonce, node.address));
    assert.ok(!provesAddress({ ...answerChallenge(nonce, other), address: node.address }, nonce, node.address));
  });
});
