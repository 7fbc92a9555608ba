// Reputation and admission: points per failure reason that fade, a ban at the threshold that lasts its
// duration and survives a reopen of the database, and the operator's allow and deny lists.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { NodeReputation } from './node-reputation.ts';

const node = `0x${'ab'.repeat(20)}`;

describe('node reputation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'castnet-reputation-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lowers the score by each reason\'s weight, and lets old failures fade by half every half-life', () => {
    const clock = { now: 0 };
    const r = new NodeReputation({ path: ':memory:', admission: 'open', banPoints: 10, halfLifeMs: 60_000, now: () => clock.now });
    assert.equal(r.score(node), 1);
    assert.equal(r.report(node, 'unreachable'), 0.9);
    assert.equal(r.report(node, 'verification_failed'), 0.6);
    assert.equal(r.report(node, 'some_new_reason'), 0.5);
    clock.now += 60_000;
    assert.equal(r.score(node), 0.75);
    r.close();
  });

  it('bans at the threshold for the ban duration, and the ban survives a reopen', () => {
    const clock = { now: 1_000 };
    const path = join(dir, 'nodes.sqlite');
    const r = new NodeReputation({ path, admission: 'open', banPoints: 4, banMs: 10_000, now: () => clock.now });
    const bans: string[] = [];
    r.on('banned', (b) => bans.push(b.address));
    r.report(node, 'bad_output');
    assert.equal(r.refusal(node), null);
    r.report(node, 'bad_output');
    assert.deepEqual(bans, [node]);
    assert.equal(r.refusal(node)?.reason, 'banned');
    r.close();
    const reopened = new NodeReputation({ path, admission: 'open', banPoints: 4, banMs: 10_000, now: () => clock.now });
    assert.equal(reopened.refusal(node)?.reason, 'banned');
    assert.equal(reopened.bans()[0]?.reason, 'repeated failures (last: bad_output)');
    clock.now += 10_001;
    assert.equal(reopened.refusal(node), null, 'the ban ran out');
    reopened.close();
  });

  it('admits only allowed keys under allowlist, refuses denied keys under either mode, and an allow lifts a ban', () => {
    const r = new NodeReputation({ path: join(dir, 'lists.sqlite'), admission: 'allowlist', banPoints: 1 });
    assert.equal(r.refusal(node)?.reason, 'not_allowed');
    r.setAdmission(node, 'allow');
    assert.equal(r.refusal(node), null);
    r.report(node, 'unreachable');
    assert.equal(r.refusal(node)?.reason, 'banned');
    r.setAdmission(node, 'allow');
    assert.equal(r.refusal(node), null);
    r.setAdmission(node, 'deny');
    assert.equal(r.refusal(node)?.reason, 'denied');
    r.close();
    const reopened = new NodeReputation({ path: join(dir, 'lists.sqlite'), admission: 'open' });
    assert.equal(reopened.refusal(node)?.reason, 'denied');
    assert.deepEqual(reopened.admissionList().map((e) => e.list), ['deny']);
    reopened.setAdmission(node, null);
    assert.equal(reopened.refusal(node), null);
    reopened.close();
  });
});
