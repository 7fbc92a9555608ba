// The scheduling rule, as tables of nodes and the choice each should produce.

import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import type { NodeRecord } from '../protocol/node-record.ts';
import { CapacityPriceScheduler, type NodeState } from './scheduler.ts';

interface Row {
  id: string;
  max?: number;
  sessions?: number;
  assigned?: number;
  price?: string;
  encoders?: string[];
  failures?: number;
}

function table(rows: Row[]): { nodes: NodeRecord[]; state: NodeState } {
  const nodes = rows.map((r) => ({
    id: r.id,
    role: 'transcoder' as const,
    url: `http://${r.id}`,
    version: '1',
    registeredAt: '',
    lastSeenAt: '',
    capabilities: { encoders: r.encoders ?? ['libx264'], maxSessions: r.max ?? 10, pricePerPixel: r.price ?? '1' },
    load: { sessions: r.sessions ?? 0, inFlight: 0 },
  }));
  const byId = new Map(rows.map((r) => [r.id, r]));
  return { nodes, state: { assigned: (id) => byId.get(id)?.assigned ?? 0, recentFailures: (id) => byId.get(id)?.failures ?? 0 } };
}

const scheduler = new CapacityPriceScheduler();
const pick = (rows: Row[], request: Partial<Parameters<CapacityPriceScheduler['pickTranscoder']>[0]> = {}) => {
  const { nodes, state } = table(rows);
  return scheduler.pickTranscoder({ playbackId: 'p', avoid: [], ...request }, nodes, state)?.id ?? null;
};

describe('scheduler rule', () => {
  const cases: Array<[string, Row[], Partial<Parameters<CapacityPriceScheduler['pickTranscoder']>[0]>, string | null]> = [
    ['the least loaded node, load counting assigned streams and reported sessions', [{ id: 'a', assigned: 3 }, { id: 'b', sessions: 2 }, { id: 'c', assigned: 1, sessions: 2 }], {}, 'b'],
    ['load relative to capacity, not absolute', [{ id: 'small', max: 4, assigned: 2 }, { id: 'big', max: 40, assigned: 10 }], {}, 'big'],
    ['never a node at capacity', [{ id: 'full', max: 2, assigned: 2 }], {}, null],
    ['only nodes with a wanted encoder', [{ id: 'cpu' }, { id: 'gpu', encoders: ['h264_nvenc'], assigned: 5 }], { encoders: ['h264_nvenc'] }, 'gpu'],
    ['never above the broadcaster’s maximum price', [{ id: 'dear', price: '5' }, { id: 'cheap', price: '2', assigned: 8 }], { maxPricePerPixel: 3n }, 'cheap'],
    ['the cheaper of two equally loaded nodes', [{ id: 'dear', price: '3' }, { id: 'cheap', price: '1' }], {}, 'cheap'],
    ['load before price when loads differ clearly', [{ id: 'cheap-busy', price: '1', assigned: 8 }, { id: 'dear-idle', price: '2' }], {}, 'dear-idle'],
    ['not a node with recent failures', [{ id: 'flaky', failures: 3 }, { id: 'steady', assigned: 6 }], {}, 'steady'],
    ['an avoided node only when nothing else is left', [{ id: 'avoided' }], { avoid: ['http://avoided'] }, 'avoided'],
    ['another node over an avoided one', [{ id: 'avoided' }, { id: 'other', assigned: 9 }], { avoid: ['avoided'] }, 'other'],
    ['the first registered of equal nodes', [{ id: 'first' }, { id: 'second' }], {}, 'first'],
  ];
  for (const [rule, rows, request, expected] of cases) {
    it(`picks ${rule}`, () => assert.equal(pick(rows, request), expected));
  }

  it('keeps a reconnecting stream on its relay while that relay is healthy', () => {
    const { nodes, state } = table([{ id: 'r1', assigned: 9 }, { id: 'r2' }]);
    assert.equal(scheduler.pickRelay({ playbackId: 'p', avoid: [], preferRelay: 'http://r1' }, nodes, state)?.id, 'r1');
    assert.equal(scheduler.pickRelay({ playbackId: 'p', avoid: ['r1'], preferRelay: 'http://r1' }, nodes, state)?.id, 'r2');
  });

  it('never makes an edge relay a stream\'s origin, even the least loaded or the preferred one', () => {
    const { nodes, state } = table([{ id: 'edge' }, { id: 'origin', assigned: 9 }]);
    const marked = nodes.map((n) => (n.id === 'edge' ? { ...n, capabilities: { ...n.capabilities, edge: true } } : n));
    assert.equal(scheduler.pickRelay({ playbackId: 'p', avoid: [] }, marked, state)?.id, 'origin');
    assert.equal(scheduler.pickRelay({ playbackId: 'p', avoid: [], preferRelay: 'http://edge' }, marked, state)?.id, 'origin');
    assert.equal(scheduler.pickRelay({ playbackId: 'p', avoid: [] }, marked.filter((n) => n.id === 'edge'), state), null);
  });
});
