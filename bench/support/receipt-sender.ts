// The receipt sender of bench/support/receipt-load.ts in its own process, so the CPU a bench measures in
// the relay's process is the relay's alone. Reads one JSON command a line on stdin ({ start: options },
// { prepare: seconds }, { send: true }, { prepareRiding: { seconds, segmentPath } }, { sendJoins: true },
// { ridden: n }, { report: true }) and answers one JSON line each on stdout.

import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import { identityFromPrivateKey } from '../../protocol/identity.ts';
import { fromHex } from '../../protocol/ticket.ts';
import { ReceiptLoad, type ReceiptLoadOptions } from './receipt-load.ts';

let load: ReceiptLoad | undefined;
let prepared: string[] = [];
let joins: string[] = [];
let ridingPaths: string[] = [];
for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line) as { start?: Omit<ReceiptLoadOptions, 'payer'> & { payerKey: string; bytesPerSecond: number }; prepare?: number; send?: true; prepareRiding?: { seconds: number; segmentPath: string; exactly?: number }; preparePosts?: number; sendPosts?: true; sendJoins?: true; ridden?: number; getAll?: { path: string; count: number } | { ride: true }; report?: true };
  if (cmd.start) {
    const { payerKey, bytesPerSecond, ...options } = cmd.start;
    load = new ReceiptLoad({ ...options, payer: identityFromPrivateKey(fromHex(payerKey, 32)) }, bytesPerSecond);
    await load.start();
    console.log(JSON.stringify({ viewers: load.viewers, receiptsPerSecond: load.receiptsPerSecond, joinsPerSecond: load.joinsPerSecond }));
  } else if (cmd.prepare !== undefined) {
    prepared = load!.prepare(cmd.prepare);
    console.log(JSON.stringify({ prepared: prepared.length }));
  } else if (cmd.send) {
    await load!.send(prepared);
    console.log(JSON.stringify({ sent: prepared.length }));
  } else if (cmd.prepareRiding) {
    const r = load!.prepareRiding(cmd.prepareRiding.seconds, cmd.prepareRiding.segmentPath, cmd.prepareRiding.exactly);
    joins = r.joins;
    ridingPaths = readFileSync(r.file, 'utf8').split('\n').filter(Boolean);
    console.log(JSON.stringify({ file: r.file, paths: r.paths }));
  } else if (cmd.preparePosts !== undefined) {
    prepared = load!.preparePosts(cmd.preparePosts);
    console.log(JSON.stringify({ prepared: prepared.length }));
  } else if (cmd.sendPosts) {
    await load!.send(prepared, Infinity, 16);
    console.log(JSON.stringify({ sent: prepared.length }));
  } else if (cmd.getAll) {
    const g = cmd.getAll;
    const paths = 'ride' in g ? ridingPaths : Array.from({ length: g.count }, () => g.path);
    await load!.getAll(paths);
    if ('ride' in g) load!.ridden(paths.length);
    console.log(JSON.stringify({ sent: paths.length }));
  } else if (cmd.sendJoins) {
    await load!.send(joins, load!.joinsPerSecond);
    console.log(JSON.stringify({ sent: joins.length }));
  } else if (cmd.ridden !== undefined) {
    load!.ridden(cmd.ridden);
    console.log(JSON.stringify({ ridden: cmd.ridden }));
  } else if (cmd.report) {
    console.log(JSON.stringify(load!.report()));
    load!.close();
    break;
  }
}
