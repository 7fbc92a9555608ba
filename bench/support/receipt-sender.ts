// The receipt sender of bench/support/receipt-load.ts in its own process, so the CPU a bench measures in
// the relay's process is the relay's alone. Reads one JSON command a line on stdin ({ start: options },
// { prepare: seconds }, { send: true }, { prepareRiding: { seconds, segmentPath } }, { sendJoins: true },
// { ridden: n }, { report: true }) and answers one JSON line each on stdout.

import { createInterface } from 'node:readline';
import { identityFromPrivateKey } from '../../protocol/identity.ts';
import { fromHex } from '../../protocol/ticket.ts';
import { ReceiptLoad, type ReceiptLoadOptions } from './receipt-load.ts';

let load: ReceiptLoad | undefined;
let prepared: string[] = [];
let joins: string[] = [];
for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line) as { start?: Omit<ReceiptLoadOptions, 'payer'> & { payerKey: string; bytesPerSecond: number }; prepare?: number; send?: true; prepareRiding?: { seconds: number; segmentPath: string }; sendJoins?: true; ridden?: number; report?: true };
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
    const r = load!.prepareRiding(cmd.prepareRiding.seconds, cmd.prepareRiding.segmentPath);
    joins = r.joins;
    console.log(JSON.stringify({ file: r.file, paths: r.paths }));
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
