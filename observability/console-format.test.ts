import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { formatLogLine } from './console-format.ts';

describe('console log format', () => {
  it('writes time, level, component, message and the other fields as key=value', () => {
    const line = JSON.stringify({ level: 40, time: '2026-11-25T12:00:01.123Z', name: 'castnet', component: 'relay', msg: 'relay push failed', playbackId: 'abc', seq: 4 });
    assert.equal(formatLogLine(line), '12:00:01 WARN  relay        relay push failed  playbackId=abc seq=4\n');
  });

  it('quotes values with spaces and prints an error stack indented under the line', () => {
    const line = JSON.stringify({ level: 50, time: '2026-11-25T12:00:01Z', msg: 'failed', url: 'a b', err: { message: 'boom', stack: 'Error: boom\n    at x' } });
    assert.equal(formatLogLine(line), '12:00:01 ERROR failed  url="a b"\n    Error: boom\n        at x\n');
  });

  it('passes a line that is not JSON through unchanged', () => {
    assert.equal(formatLogLine('plain text'), 'plain text\n');
  });
});
