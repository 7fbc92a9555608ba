// The money commands on a real anvil chain: deploy-broker, deposit (a transaction from the broadcaster's key),
// wallet (balances and gas), withdraw of earnings, unlock and the withdrawal of a deposit after the unlock
// period, each refusal with the chain's reason, and the chain's URL named when it cannot be reached.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { MAX_WIN_PROB, signTicket, toHex, type Ticket } from '../protocol/ticket.ts';
import { BrokerClient } from '../settlement/broker-client.ts';
import { startDevChain, type DevChain } from '../settlement/dev-chain.ts';
import { runDeployBroker } from './deploy-broker.ts';
import { runDeposit, runUnlock, runWallet, runWithdraw } from './wallet.ts';

function capture(): { out: (s: string) => void; text: () => string } {
  let text = '';
  return { out: (s) => (text += s), text: () => text };
}

describe('castnet wallet, deposit, withdraw and unlock on chain', () => {
  let chain: DevChain;
  let dataDir: string;
  let flags: string[];
  let broker: string;

  beforeAll(async () => {
    chain = await startDevChain();
    dataDir = mkdtempSync(join(tmpdir(), 'castnet-wallet-chain-'));
    mkdirSync(join(dataDir, 'keys'));
    // Prefunded anvil accounts as the broadcaster's and transcoder's keys: both pay gas.
    writeFileSync(join(dataDir, 'keys', 'broadcaster.key'), `${bytesToHex(chain.accounts[3]!.privateKey)}\n`, { mode: 0o600 });
    writeFileSync(join(dataDir, 'keys', 'transcoder.key'), `${bytesToHex(chain.accounts[4]!.privateKey)}\n`, { mode: 0o600 });
    writeFileSync(join(dataDir, 'deployer.key'), `0x${bytesToHex(chain.funder.privateKey)}\n`, { mode: 0o600 });
    const deployed = capture();
    assert.equal(await runDeployBroker(['--chain-rpc', chain.rpcUrl, '--key-file', join(dataDir, 'deployer.key'), '--unlock-period', '5'], deployed.out), 0);
    broker = /TicketBroker deployed at (0x[0-9a-f]{40}) \(block \d+\)/.exec(deployed.text())![1]!;
    flags = ['--data-dir', dataDir, '--settlement', 'chain', '--chain-rpc', chain.rpcUrl, '--broker', broker];
  });

  afterAll(async () => {
    await chain?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('deposits from the broadcaster key, shows balances and gas, and withdraws earnings with a transaction', async () => {
    const deposit = capture();
    assert.equal(await runDeposit(['1000000', '--reserve', '5000', ...flags], deposit.out), 0);
    assert.match(deposit.text(), /funded 0x[0-9a-f]{40} on chain \(TicketBroker 0x/);
    assert.match(deposit.text(), /deposit\s+0\.000000000001 ETH \(1000000 wei\)/);
    const client = new BrokerClient({ rpcUrl: chain.rpcUrl, broker });
    assert.deepEqual(await client.sender(chain.accounts[3]!.address), { deposit: 1_000_000n, reserve: 5_000n, reserveClaimed: 0n, withdrawBlock: 0n });

    // The transcoder wins a ticket worth 300,000 wei, redeemed by anyone.
    const block = await client.latestBlock();
    const rand = new Uint8Array(randomBytes(32));
    const ticket: Ticket = { recipient: chain.accounts[4]!.address, sender: chain.accounts[3]!.address, faceValue: 300_000n, winProb: MAX_WIN_PROB, senderNonce: 1, recipientRandHash: toHex(keccak_256(rand)), creationRound: block.number, creationRoundBlockHash: block.hash };
    await new BrokerClient({ rpcUrl: chain.rpcUrl, broker, identity: chain.accounts[5]! }).sendTransaction({ to: client.address, data: BrokerClient.redeemOneData({ ticket, signature: signTicket(ticket, chain.accounts[3]!.privateKey), recipientRand: rand }) }, 'redeeming');

    const wallet = capture();
    assert.equal(await runWallet(flags, wallet.out), 0);
    assert.match(wallet.text(), /^on chain: TicketBroker/m);
    assert.match(wallet.text(), /broadcaster\s+0x[0-9a-f]{40}\n\s+deposit\s+\S+ ETH \(700000 wei\)\n\s+reserve\s+\S+ ETH \(5000 wei\)\n\s+gas \(ETH\)\s+\d/);
    assert.match(wallet.text(), /transcoder\s+0x[0-9a-f]{40}\n\s+earned\s+\S+ ETH \(300000 wei\)\n\s+withdrawn\s+0 ETH \(0 wei\)\n\s+withdrawable\s+\S+ ETH \(300000 wei\)/);

    const to = `0x${'ab'.repeat(20)}`;
    const withdrawn = capture();
    await runWithdraw(['--all', '--role', 'transcoder', '--to', to, ...flags], withdrawn.out);
    assert.match(withdrawn.text(), /withdrew \S+ ETH \(300000 wei\) from 0x[0-9a-f]{40} to 0xabab/);
    assert.equal(await client.balance(to), 300_000n);
    await assert.rejects(runWithdraw(['1', '--role', 'transcoder', ...flags], () => {}), /the chain at http:\/\/127\.0\.0\.1:\d+ refused: .*amount exceeds the earnings not yet withdrawn.*CHAIN_REFUSED/);
  });

  it("unlocks the broadcaster's deposit and takes it back only after the unlock period", async () => {
    const unlocked = capture();
    await runUnlock(flags, unlocked.out);
    assert.match(unlocked.text(), /unlocking 0x[0-9a-f]{40}: withdrawable from block \d+/);
    await assert.rejects(runWithdraw(['--role', 'broadcaster', ...flags], () => {}), /unlock period is not over/);
    const wallet = capture();
    await runWallet(flags, wallet.out);
    assert.match(wallet.text(), /unlocking\s+withdrawable from block \d+ \(now \d+\); tickets are still redeemed until then/);
    await chain.mine(5);
    const done = capture();
    await runWithdraw(['--role', 'broadcaster', ...flags], done.out);
    assert.match(done.text(), /withdrew the deposit \S+ ETH \(700000 wei\) and reserve \S+ ETH \(5000 wei\)/);
    assert.deepEqual(await new BrokerClient({ rpcUrl: chain.rpcUrl, broker }).sender(chain.accounts[3]!.address), { deposit: 0n, reserve: 0n, reserveClaimed: 0n, withdrawBlock: 0n });
  });

  it('names the chain when it cannot be reached, and asks for the chain flags when they are missing', async () => {
    const wallet = capture();
    assert.equal(await runWallet(['--data-dir', dataDir, '--settlement', 'chain', '--chain-rpc', 'http://127.0.0.1:9', '--broker', broker], wallet.out), 1);
    assert.match(wallet.text(), /the chain at http:\/\/127\.0\.0\.1:9 /);
    await assert.rejects(runDeposit(['1', '--data-dir', dataDir, '--settlement', 'chain']), /--settlement chain needs --chain-rpc <url> and --broker <address>/);
  });
});
