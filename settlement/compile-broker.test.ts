// The committed TicketBroker artifact is what contracts/TicketBroker.sol compiles to with the pinned solc-js:
// a contract change without `npm run build:contracts` (or an artifact edited by hand) fails here.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { compileBroker, renderArtifact } from './compile-broker.ts';
import { brokerAbi, brokerBytecode, brokerCompiler } from './ticket-broker-artifact.ts';

describe('the TicketBroker artifact', () => {
  it('matches a fresh compile of the source with the pinned solc-js, byte for byte', () => {
    const fresh = compileBroker();
    assert.equal(brokerCompiler, fresh.compiler);
    assert.equal(brokerBytecode, fresh.bytecode);
    assert.deepEqual(brokerAbi, fresh.abi);
    assert.equal(readFileSync(new URL('./ticket-broker-artifact.ts', import.meta.url), 'utf8'), renderArtifact(fresh), 'the file is exactly what npm run build:contracts writes');
  });

  it('is compiled by the solc version the package pins, whose compiler ships inside the npm package', () => {
    const pinned = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies['solc'];
    assert.match(pinned!, /^\d+\.\d+\.\d+$/, 'an exact version, so a fresh install compiles the same bytes');
    assert.ok(brokerCompiler.startsWith(`${pinned}+`), `${brokerCompiler} is solc ${pinned}`);
    assert.match(readFileSync(new URL('./contracts/TicketBroker.sol', import.meta.url), 'utf8'), new RegExp(`pragma solidity ${pinned!.replace(/\./g, '\\.')};`));
  });
});
