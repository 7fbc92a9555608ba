// `castnet wallet`, `withdraw` and `status` against a real orchestrator: only keys that exist, their roles,
// ETH beside wei, the URL in every error, and earnings moved out with a signed withdrawal.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { silentLogger } from '../observability/logger.ts';
import { createOrchestrator, type Orchestrator } from '../orchestrator/orchestrator.ts';
import { identityFromPrivateKey } from '../protocol/identity.ts';
import { OrchestratorClient } from '../protocol/orchestrator-client.ts';
import { redemptionRequest } from '../protocol/redemption.ts';
import { MAX_WIN_PROB, signTicket, toHex, type Ticket } from '../protocol/ticket.ts';
import { startNodeStub, type NodeStub } from '../test/support/node-stub.ts';
import { waitFor } from '../test/support/wait.ts';
import { runNodes } from './nodes.ts';
import { renderStatus } from './status.ts';
import { formatWei, runDeposit, runWallet, runWithdraw } from './wallet.ts';
import { closedPort } from '../test/support/ports.ts';

function capture(): { out: (s: string) => void; text: () => string } {
  let text = '';
  return { out: (s) => (text += s), text: () => text };
}

describe('castnet wallet and withdraw', () => {
  let orchestrator: Orchestrator;
  let dataDir: string;
  const transcoderKey = randomBytes(32);
  const transcoder = identityFromPrivateKey(transcoderKey);

  beforeAll(async () => {
    orchestrator = await createOrchestrator({ httpPort: 0, dataDir: null, allowPrivateNodes: true }, { logger: silentLogger });
    await orchestrator.start();
    dataDir = mkdtempSync(join(tmpdir(), 'castnet-wallet-'));
    mkdirSync(join(dataDir, 'keys'));
    writeFileSync(join(dataDir, 'keys', 'transcoder.key'), `${bytesToHex(transcoderKey)}\n`, { mode: 0o600 });
    // The transcoder earned 0.0012 ETH from one winning ticket.
    const sender = identityFromPrivateKey(randomBytes(32));
    const client = new OrchestratorClient(orchestrator.url, { identity: orchestrator.operator });
    await client.deposit(sender.address, 10n ** 18n);
    const rand = randomBytes(32);
    const ticket: Ticket = { recipient: transcoder.address, sender: sender.address, faceValue: 1_200_000_000_000_000n, winProb: MAX_WIN_PROB, senderNonce: 1, recipientRandHash: toHex(keccak_256(rand)), creationRound: 0n, creationRoundBlockHash: `0x${'00'.repeat(32)}` };
    await client.redeem(redemptionRequest(ticket, signTicket(ticket, sender.privateKey), new Uint8Array(rand)));
  });
  afterAll(() => orchestrator?.stop());

  it('writes amounts in ETH beside wei, exactly', () => {
    assert.equal(formatWei(1_200_000_000_000_000n), '0.0012 ETH (1200000000000000 wei)');
    assert.equal(formatWei('0'), '0 ETH (0 wei)');
    assert.equal(formatWei(3n * 10n ** 18n + 1n), '3.000000000000000001 ETH (3000000000000000001 wei)');
  });

  it('shows only the keys in the data directory, with their role and balances, and creates none', async () => {
    const { out, text } = capture();
    assert.equal(await runWallet(['--data-dir', dataDir, '--orchestrator', orchestrator.url], out), 0);
    assert.match(text(), new RegExp(`^transcoder\\s+${transcoder.address}\\n`));
    assert.match(text(), /earned\s+0\.0012 ETH \(1200000000000000 wei\)/);
    assert.doesNotMatch(text(), /broadcaster|relay/);
    assert.deepEqual(readdirSync(join(dataDir, 'keys')), ['transcoder.key']);
  });

  it("shows a relay's earnings, a broadcaster's deposit and the operator key, each with its role", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'castnet-wallet-roles-'));
    mkdirSync(join(dir, 'keys'));
    const keys = Object.fromEntries(['relay', 'broadcaster', 'operator'].map((role) => {
      const key = randomBytes(32);
      writeFileSync(join(dir, 'keys', `${role}.key`), `${bytesToHex(key)}\n`, { mode: 0o600 });
      return [role, identityFromPrivateKey(key).address];
    }));
    await new OrchestratorClient(orchestrator.url, { identity: orchestrator.operator }).deposit(keys['broadcaster']!, 3n * 10n ** 17n, 10n ** 17n);
    const { out, text } = capture();
    assert.equal(await runWallet(['--data-dir', dir, '--orchestrator', orchestrator.url], out), 0);
    assert.match(text(), new RegExp(`^operator\\s+${keys['operator']}\\n  signs deposits and admission at the orchestrator; holds no balance\\n`));
    assert.match(text(), new RegExp(`broadcaster\\s+${keys['broadcaster']}\\n  deposit\\s+0\\.3 ETH \\(300000000000000000 wei\\)\\n  reserve\\s+0\\.1 ETH`));
    assert.match(text(), new RegExp(`relay\\s+${keys['relay']}\\n  earned\\s+0 ETH \\(0 wei\\)\\n  withdrawn\\s+0 ETH \\(0 wei\\)\\n  withdrawable\\s+0 ETH`));
    assert.doesNotMatch(text(), /transcoder/);
  });

  it('names the ledger URL when it cannot be reached', async () => {
    const { out, text } = capture();
    const closed = await closedPort();
    assert.equal(await runWallet(['--data-dir', dataDir, '--orchestrator', `http://127.0.0.1:${closed}`], out), 1);
    assert.ok(text().includes(`the ledger at http://127.0.0.1:${closed} could not be reached (ECONNREFUSED)`), text());
  });

  it('withdraws part of the earnings, then the rest with --all, and refuses more', async () => {
    const common = ['--data-dir', dataDir, '--orchestrator', orchestrator.url, '--role', 'transcoder'];
    const first = capture();
    await runWithdraw(['200000000000000', ...common, '--to', `0x${'cd'.repeat(20)}`], first.out);
    assert.match(first.text(), /withdrew 0\.0002 ETH .* to 0xcdcd/);
    const rest = capture();
    await runWithdraw(['--all', ...common], rest.out);
    assert.match(rest.text(), /withdrew 0\.001 ETH \(1000000000000000 wei\)/);
    assert.match(rest.text(), /withdrawable 0 ETH/);
    await assert.rejects(runWithdraw(['1', ...common], () => {}), /the ledger at .* refused: .*exceeds.*INSUFFICIENT_FUNDS/);
    const account = await new OrchestratorClient(orchestrator.url).account(transcoder.address);
    assert.deepEqual([account.earned, account.withdrawn], ['1200000000000000', '1200000000000000']);
  });

  it('refuses to withdraw for a role whose key is not in the data directory', async () => {
    await assert.rejects(runWithdraw(['--all', '--data-dir', dataDir, '--orchestrator', orchestrator.url, '--role', 'relay'], () => {}), /no relay key in/);
  });

  it('prints the nodes and streams the orchestrator knows as tables', async () => {
    const stubs = await Promise.all([startNodeStub('relay'), startNodeStub('relay'), startNodeStub('transcoder')]);
    try {
      const [edge, origin, transcoderNode] = stubs as [NodeStub, NodeStub, NodeStub];
      await edge.client(orchestrator.url).register({ role: 'relay', url: edge.url, capabilities: { encoders: [], maxSessions: 50, pricePerPixel: '0', edge: true } });
      await origin.client(orchestrator.url).register({ role: 'relay', url: origin.url, stats: [{ playbackId: 'abc', viewers: 3, bytesServed: 0, hits: 0, misses: 0, hitRatio: 0, upstreamBytes: 0 }] });
      await transcoderNode.client(orchestrator.url).register({ role: 'transcoder', url: transcoderNode.url, capabilities: { encoders: ['libx264'], maxSessions: 4, pricePerPixel: '2' } });
      await waitFor('the nodes proved', () => stubs.every((n) => orchestrator.nodes.status(n.identity.address)?.state === 'active'), 5_000, 10);
      const client = new OrchestratorClient(orchestrator.url, { identity: identityFromPrivateKey(randomBytes(32)) });
      await client.openSession({ playbackId: 'abc', startedAt: new Date().toISOString(), renditions: [{ name: '720p', width: 1280, height: 720 }] });
      const text = renderStatus(orchestrator.url, await client.nodes(), await client.streams());
      const url = (n: NodeStub) => n.url.replace(/[./]/g, '\\$&');
      assert.match(text, /ROLE\s+URL\s+ENCODER\s+LOAD\s+PRICE\s+HEALTH\s+EARNED/);
      assert.match(text, new RegExp(`relay \\(edge\\)\\s+${url(edge)}`));
      assert.match(text, new RegExp(`transcoder\\s+${url(transcoderNode)}\\s+libx264\\s+0/4 sessions, 1 assigned\\s+2 wei/px\\s+ok, score 1\\.00`));
      assert.match(text, new RegExp(`abc\\s+720p\\s+${url(origin)}\\s+${url(transcoderNode)}\\s+3`));
    } finally {
      await Promise.all(stubs.map((n) => n.close()));
    }
  });

  it('deposits with the operator key of the data directory, and refuses without one', async () => {
    const account = identityFromPrivateKey(randomBytes(32)).address;
    await assert.rejects(runDeposit(['5', '--to', account, '--data-dir', dataDir, '--orchestrator', orchestrator.url], () => {}), /no operator key at .*operator\.key/);
    writeFileSync(join(dataDir, 'keys', 'operator.key'), `${bytesToHex(orchestrator.operator.privateKey)}\n`, { mode: 0o600 });
    const out = capture();
    assert.equal(await runDeposit(['5', '--reserve', '2', '--to', account, '--data-dir', dataDir, '--orchestrator', orchestrator.url], out.out), 0);
    assert.match(out.text(), /deposit\s+0\.000000000000000005 ETH \(5 wei\)/);
    const stranger = join(dataDir, 'stranger.key');
    writeFileSync(stranger, `${bytesToHex(randomBytes(32))}\n`, { mode: 0o600 });
    await assert.rejects(runDeposit(['5', '--to', account, '--operator-key', stranger, '--orchestrator', orchestrator.url], () => {}), /only the operator may deposit.*not_operator/);
    assert.equal(orchestrator.ledger!.account(account).deposit, 5n);
  });

  it('allows, denies and lists node keys with castnet nodes, signed by the operator key', async () => {
    const node = identityFromPrivateKey(randomBytes(32)).address;
    writeFileSync(join(dataDir, 'keys', 'operator.key'), `${bytesToHex(orchestrator.operator.privateKey)}\n`, { mode: 0o600 });
    const out = capture();
    assert.equal(await runNodes(['deny', node, '--data-dir', dataDir, '--orchestrator', orchestrator.url], out.out), 0);
    assert.equal(await runNodes(['list', '--orchestrator', orchestrator.url], out.out), 0);
    assert.match(out.text(), new RegExp(`${node}\\s+deny`));
    assert.match(out.text(), /admission open/);
    await assert.rejects(runNodes(['allow', 'nobody', '--data-dir', dataDir, '--orchestrator', orchestrator.url], () => {}), /takes a node's address/);
    assert.equal(await runNodes(['clear', node, '--data-dir', dataDir, '--orchestrator', orchestrator.url], () => {}), 0);
    assert.deepEqual(orchestrator.reputation.admissionList(), []);
  });
});
