// A chain of one's own for `castnet dev --settlement chain`, tests and benchmarks: anvil started from npm,
// the committed TicketBroker deployed from its first prefunded account, and helpers that give other
// keys gas money and fund a sender's deposit and reserve from that account.

import { hexToBytes } from '@noble/hashes/utils.js';
import { createTestClient, http, type TestClient } from 'viem';
import { identityFromPrivateKey, type Identity } from '../protocol/identity.ts';
import { startAnvil, type Anvil, type AnvilOptions } from './anvil.ts';
import { BrokerClient, type BrokerParameters, type Hex } from './broker-client.ts';
import { DEFAULT_RESERVE_RECIPIENTS } from './reserve-rule.ts';

/** The dev broker's constants: a one-minute unlock at one-second blocks, the longest ticket validity the EVM allows. */
export const DEV_BROKER_PARAMETERS: BrokerParameters = { unlockPeriod: 60n, ticketValidityBlocks: 256n, reserveRecipients: DEFAULT_RESERVE_RECIPIENTS };

export interface DevChain {
  readonly anvil: Anvil;
  readonly rpcUrl: string;
  readonly broker: Hex;
  /** Anvil's first prefunded account: deployed the broker, pays for what the helpers fund. */
  readonly funder: Identity;
  /** The other prefunded accounts, for tests that need keys with ETH. */
  readonly accounts: readonly Identity[];
  /** A client of the broker signing with `identity` (read-only without one). */
  client(identity?: Identity | null): BrokerClient;
  /** Sends `wei` of gas money to `address` from the funder. */
  sendEth(address: string, wei: bigint): Promise<void>;
  /** Funds `sender`'s deposit and reserve from the funder. */
  fund(sender: string, deposit: bigint, reserve: bigint): Promise<void>;
  /** Anvil's own controls (mine, automine, snapshots) for tests. */
  readonly test: TestClient<'anvil'>;
  /** Mines `blocks` blocks at once. */
  mine(blocks: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startDevChain(options: AnvilOptions & { broker?: Partial<BrokerParameters> } = {}): Promise<DevChain> {
  const anvil = await startAnvil(options);
  try {
    const [first, ...rest] = anvil.privateKeys.map((k) => identityFromPrivateKey(hexToBytes(k.slice(2))));
    const funder = first!;
    const broker = await BrokerClient.deploy(anvil.rpcUrl, funder, { ...DEV_BROKER_PARAMETERS, ...options.broker });
    const funderClient = new BrokerClient({ rpcUrl: anvil.rpcUrl, broker, identity: funder });
    const test = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) });
    return {
      anvil,
      rpcUrl: anvil.rpcUrl,
      broker,
      funder,
      accounts: rest,
      test,
      client: (identity) => new BrokerClient({ rpcUrl: anvil.rpcUrl, broker, identity: identity ?? null }),
      async sendEth(address, wei) {
        await funderClient.transfer(address, wei);
      },
      async fund(sender, deposit, reserve) {
        await funderClient.fundFor(sender, deposit, reserve);
      },
      async mine(blocks) {
        await test.mine({ blocks });
      },
      stop: () => anvil.stop(),
    };
  } catch (err) {
    await anvil.stop();
    throw err;
  }
}
