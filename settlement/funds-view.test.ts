// A transcoder's knowledge of a sender's funds has a bounded age: reused while fresh, asked again after,
// standing in for an unreachable settlement only up to its maximum age, and past that "unknown".

import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { fundsView } from './funds-view.ts';

/** A settlement whose answers and reachability the test sets: the injected collaborator, as a real one would be. */
function settlement() {
  const state = { payable: 500n, reachable: true, asked: 0 };
  return {
    state,
    description: 'the test ledger',
    async payableTo(_sender: string, recipient: string) {
      state.asked++;
      if (recipient !== '0xrecipient') throw new Error('asked for the wrong recipient');
      if (!state.reachable) throw new Error('ECONNREFUSED');
      return state.payable;
    },
  };
}

describe('funds view', () => {
  it('reuses an answer younger than the refresh age and asks again after it', async () => {
    let now = 0;
    const s = settlement();
    const funds = fundsView({ settlement: s, recipient: '0xrecipient', refreshMs: 2_000, maxAgeMs: 30_000, now: () => now });
    assert.equal(await funds('0xsender'), 500n);
    s.state.payable = 100n;
    now = 1_999;
    assert.equal(await funds('0xsender'), 500n, 'fresh enough');
    assert.equal(s.state.asked, 1);
    now = 2_000;
    assert.equal(await funds('0xsender'), 100n, 'asked again');
  });

  it('stands in with the last answer while the settlement is unreachable, up to the maximum age, then refuses to guess', async () => {
    let now = 0;
    const s = settlement();
    const funds = fundsView({ settlement: s, recipient: '0xrecipient', refreshMs: 2_000, maxAgeMs: 30_000, now: () => now });
    await funds('0xsender');
    s.state.reachable = false;
    now = 30_000;
    assert.equal(await funds('0xsender'), 500n, '30 s old: still trusted');
    now = 30_001;
    await assert.rejects(funds('0xsender'), /the test ledger could not be asked about sender 0xsender \(ECONNREFUSED\); what was known is 30 s old, past the 30 s trusted/);
    await assert.rejects(funds('0xnewcomer'), /nothing is known of it yet/);
  });
});
