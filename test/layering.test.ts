// The folders are the architecture: shared folders at the bottom, one folder per role above them, the CLI
// on top. This reads every import of the shipped code (tests and benchmarks aside) and holds it to that.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

/** What each folder may import besides itself. A folder not listed here fails the test until it is placed. */
const MAY_IMPORT: Record<string, ReadonlyArray<string>> = {
  protocol: [],
  observability: [],
  storage: [],
  config: ['protocol'],
  media: ['protocol', 'observability'],
  http: ['protocol', 'observability'],
  p2p: ['protocol', 'observability'],
  // Settlement: the reserve rule, the TicketBroker contract and its client, anvil for local chains.
  settlement: ['protocol', 'observability', 'storage', 'config'],
  player: ['protocol'],
  broadcaster: ['protocol', 'media', 'observability', 'storage', 'config', 'http', 'p2p', 'settlement'],
  orchestrator: ['protocol', 'media', 'observability', 'storage', 'config', 'http', 'p2p', 'settlement'],
  transcoder: ['protocol', 'media', 'observability', 'storage', 'config', 'http', 'p2p', 'settlement'],
  // The relay serves the player's bundle and pages.
  relay: ['protocol', 'media', 'observability', 'storage', 'config', 'http', 'p2p', 'player', 'settlement'],
  cli: ['protocol', 'media', 'observability', 'storage', 'config', 'http', 'p2p', 'player', 'settlement', 'broadcaster', 'orchestrator', 'transcoder', 'relay'],
};
const NOT_SHIPPED = new Set(['node_modules', 'test', 'bench', 'docs', 'deploy', '.git', '.castnet']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name.startsWith('.') || NOT_SHIPPED.has(name) ? [] : sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

function folderOf(path: string): string {
  return relative(root, path).split('/')[0]!;
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'(\.{1,2}\/[^']+)'/g)].map((m) => resolve(dirname(file), m[1]!));
}

const files = readdirSync(root)
  .filter((name) => !name.startsWith('.') && !NOT_SHIPPED.has(name) && statSync(join(root, name)).isDirectory())
  .flatMap((name) => sourceFiles(join(root, name)));
// Test helpers that sit beside the code they serve are test code too.
const shipped = files.filter((f) => !readFileSync(f, 'utf8').includes("from 'vitest'"));

describe('layering', () => {
  it('places every folder of shipped code in a layer', () => {
    assert.ok(shipped.length > 50 && shipped.some((f) => importsOf(f).length > 5), 'the scan found the sources and their imports');
    const unplaced = [...new Set(shipped.map(folderOf))].filter((f) => !(f in MAY_IMPORT) && f !== 'bin');
    assert.deepEqual(unplaced, [], `folders with no layer: ${unplaced.join(', ')}`);
  });

  it('imports only from the same folder or a folder below it', () => {
    const wrong: string[] = [];
    for (const file of shipped) {
      const from = folderOf(file);
      if (!(from in MAY_IMPORT)) continue;
      for (const target of importsOf(file)) {
        const to = folderOf(target);
        if (to !== from && !MAY_IMPORT[from]!.includes(to)) wrong.push(`${relative(root, file)} imports ${relative(root, target)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('has no import cycle between folders', () => {
    const edges = new Map<string, Set<string>>();
    for (const file of shipped) {
      for (const target of importsOf(file)) {
        const [a, b] = [folderOf(file), folderOf(target)];
        if (a !== b) edges.set(a, (edges.get(a) ?? new Set()).add(b));
      }
    }
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (node: string, path: string[]): void => {
      if (done.has(node)) return;
      assert.ok(!visiting.has(node), `import cycle: ${[...path, node].join(' → ')}`);
      visiting.add(node);
      for (const next of edges.get(node) ?? []) visit(next, [...path, node]);
      visiting.delete(node);
      done.add(node);
    };
    for (const node of edges.keys()) visit(node, []);
  });
});
