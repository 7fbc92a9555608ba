// The one client of the TicketBroker contract (settlement/contracts/TicketBroker.sol) over JSON-RPC, with
// viem: reads (a sender's funds, what it can pay a recipient, a recipient's earnings, used tickets, the
// latest block), the account holder's transactions (fund, unlock, withdraw, withdraw earnings), deploying
// the committed artifact, and decoding redemption events. Transactions are signed here, with the key the
// client is given, and refused ones are reported with the chain's revert reason (CHAIN_REFUSED).

import {
  BaseError,
  ContractFunctionRevertedError,
  decodeErrorResult,
  createPublicClient,
  decodeEventLog,
  encodeFunctionData,
  http,
  keccak256,
  type Hex,
  type Log,
  type PublicClient,
  type TransactionReceipt,
} from 'viem';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { bytesToHex } from '@noble/hashes/utils.js';
import { CastnetError } from '../protocol/errors.ts';
import type { Identity } from '../protocol/identity.ts';
import type { Ticket } from '../protocol/ticket.ts';
import { brokerAbi, brokerBytecode } from './ticket-broker-artifact.ts';

export type { Hex };

/** JSON-RPC calls answer within this, or count as the chain being unreachable. */
const RPC_TIMEOUT_MS = 10_000;
/** How long a transaction sent for the CLI (fund, unlock, withdraw) may take to be mined. */
const RECEIPT_TIMEOUT_MS = 120_000;

export interface BrokerParameters {
  unlockPeriod: bigint;
  ticketValidityBlocks: bigint;
  reserveRecipients: bigint;
}

export interface SenderState {
  deposit: bigint;
  reserve: bigint;
  reserveClaimed: bigint;
  /** 0: locked; otherwise the block from which the sender may withdraw (and tickets are refused). */
  withdrawBlock: bigint;
}

export interface RecipientState {
  earned: bigint;
  withdrawn: bigint;
}

export interface BlockRef {
  number: bigint;
  hash: Hex;
  /** Unix seconds. */
  timestamp: bigint;
}

/** A winning ticket as the contract takes it. */
export interface ChainWinner {
  ticket: Ticket;
  signature: Uint8Array;
  recipientRand: Uint8Array;
}

export type RedemptionEvent =
  | { ticketHash: Hex; sender: Hex; recipient: Hex; outcome: 'redeemed'; faceValue: bigint; paid: bigint; fromReserve: bigint; blockNumber: bigint; txHash: Hex }
  | { ticketHash: Hex; sender: Hex; recipient: Hex; outcome: 'refused'; reason: string; blockNumber: bigint; txHash: Hex };

export interface FeeQuote {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

export interface FeeEstimate extends FeeQuote {
  /** The latest block's base fee: a transaction offering less than this plus its tip waits. */
  baseFeePerGas: bigint;
}

const hex = (b: Uint8Array): Hex => `0x${bytesToHex(b)}`;

export function ticketStruct(t: Ticket) {
  return {
    recipient: t.recipient as Hex,
    sender: t.sender as Hex,
    faceValue: t.faceValue,
    winProb: t.winProb,
    senderNonce: BigInt(t.senderNonce),
    recipientRandHash: t.recipientRandHash as Hex,
    creationRound: t.creationRound,
    creationRoundBlockHash: t.creationRoundBlockHash as Hex,
  };
}

/** The revert reason inside a viem error, if the chain gave one. */
export function revertReason(err: unknown): string | null {
  if (!(err instanceof BaseError)) return null;
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
  if (reverted instanceof ContractFunctionRevertedError && reverted.reason) return reverted.reason;
  // A raw call or gas estimate: the node hands back the ABI-encoded Error(string).
  const withData = err.walk((e) => typeof (e as { data?: unknown }).data === 'string' && String((e as { data: string }).data).startsWith('0x08c379a0'));
  if (withData) {
    try {
      const decoded = decodeErrorResult({ abi: brokerAbi, data: (withData as unknown as { data: Hex }).data });
      if (decoded.errorName === 'Error') return String(decoded.args[0]);
    } catch {
      // not an Error(string) after all
    }
  }
  const said = /execution reverted: (.+)$/m.exec(err.details ?? '');
  return said ? said[1]!.trim() : reverted instanceof BaseError ? reverted.shortMessage : null;
}

/** A viem failure as a CastnetError: CHAIN_REFUSED with the chain's reason, else UNAVAILABLE (try again). */
export function chainFailure(err: unknown, what: string, rpcUrl: string): CastnetError {
  if (err instanceof CastnetError) return err;
  const reason = revertReason(err);
  if (reason !== null) return new CastnetError('CHAIN_REFUSED', `${what}: the chain refused it: ${reason}`, { reason, node: rpcUrl }, { cause: err });
  // viem's short message says what failed ("Transaction creation failed."); its details say why.
  const message = err instanceof BaseError ? `${err.shortMessage}${err.details && !err.shortMessage.includes(err.details) ? ` (${err.details.slice(0, 300)})` : ''}` : (err as Error).message;
  return new CastnetError('UNAVAILABLE', `${what}: the chain at ${rpcUrl} could not be asked: ${message}`, { node: rpcUrl }, { cause: err });
}

export class BrokerClient {
  readonly rpcUrl: string;
  readonly address: Hex;
  readonly chain: PublicClient;
  /** The key transactions are signed with; null: a read-only client. */
  readonly account: PrivateKeyAccount | null;
  private chainIdValue: number | null = null;
  private parametersValue: BrokerParameters | null = null;

  constructor(options: { rpcUrl: string; broker: string; identity?: Identity | null; pollingIntervalMs?: number }) {
    this.rpcUrl = options.rpcUrl;
    this.address = options.broker.toLowerCase() as Hex;
    this.chain = createPublicClient({ transport: http(options.rpcUrl, { timeout: RPC_TIMEOUT_MS, retryCount: 0 }), pollingInterval: options.pollingIntervalMs ?? 500 });
    this.account = options.identity ? privateKeyToAccount(hex(options.identity.privateKey)) : null;
  }

  /** Deploys the committed TicketBroker artifact from `deployer` and answers its address. */
  static async deploy(rpcUrl: string, deployer: Identity, parameters: BrokerParameters): Promise<Hex> {
    const client = new BrokerClient({ rpcUrl, broker: `0x${'00'.repeat(20)}`, identity: deployer });
    const data = (brokerBytecode + encodeConstructor(parameters).slice(2)) as Hex;
    const receipt = await client.sendTransaction({ to: null, data }, 'deploying the TicketBroker');
    if (!receipt.contractAddress) throw new CastnetError('CHAIN_REFUSED', 'deploying the TicketBroker created no contract', { node: rpcUrl });
    return receipt.contractAddress.toLowerCase() as Hex;
  }

  private async read<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw chainFailure(err, what, this.rpcUrl);
    }
  }

  async chainId(): Promise<number> {
    this.chainIdValue ??= await this.read('reading the chain id', () => this.chain.getChainId());
    return this.chainIdValue;
  }

  /** The broker's constants; also proves there is a TicketBroker at the address. */
  async parameters(): Promise<BrokerParameters> {
    if (this.parametersValue) return this.parametersValue;
    const code = await this.read('reading the broker', () => this.chain.getCode({ address: this.address }));
    if (!code || code === '0x') throw new CastnetError('UNAVAILABLE', `there is no contract at ${this.address} on the chain at ${this.rpcUrl}: check --broker and --chain-rpc`, { node: this.rpcUrl });
    const [unlockPeriod, ticketValidityBlocks, reserveRecipients] = await this.read('reading the broker', () =>
      Promise.all([
        this.chain.readContract({ address: this.address, abi: brokerAbi, functionName: 'unlockPeriod' }),
        this.chain.readContract({ address: this.address, abi: brokerAbi, functionName: 'ticketValidityBlocks' }),
        this.chain.readContract({ address: this.address, abi: brokerAbi, functionName: 'reserveRecipients' }),
      ]),
    );
    this.parametersValue = { unlockPeriod, ticketValidityBlocks, reserveRecipients };
    return this.parametersValue;
  }

  async sender(address: string): Promise<SenderState> {
    const [deposit, reserve, reserveClaimed, withdrawBlock] = await this.read("reading a sender's funds", () =>
      this.chain.readContract({ address: this.address, abi: brokerAbi, functionName: 'senders', args: [address as Hex] }),
    );
    return { deposit, reserve, reserveClaimed, withdrawBlock };
  }

  /** The most a winning ticket from `sender` pays `recipient` now (deposit + its reserve allocation). */
  payableTo(sender: string, recipient: string): Promise<bigint> {
    return this.read("reading a sender's funds", () => this.chain.readContract({ address: this.address, abi: brokerAbi, functionName: 'payableTo', args: [sender as Hex, recipient as Hex] }));
  }

  claimableReserve(sender: string, recipient: string): Promise<bigint> {
    return this.read("reading a sender's reserve", () => this.chain.readContract({ address: this.address, abi: brokerAbi, functionName: 'claimableReserve', args: [sender as Hex, recipient as Hex] }));
  }

  async recipient(address: string): Promise<RecipientState> {
    const [earned, withdrawn] = await this.read("reading a recipient's earnings", () => this.chain.readContract({ address: this.address, abi: brokerAbi, functionName: 'recipients', args: [address as Hex] }));
    return { earned, withdrawn };
  }

  used(ticketHash: string): Promise<boolean> {
    return this.read('reading a ticket', () => this.chain.readContract({ address: this.address, abi: brokerAbi, functionName: 'usedTickets', args: [ticketHash as Hex] }));
  }

  balance(address: string): Promise<bigint> {
    return this.read('reading a balance', () => this.chain.getBalance({ address: address as Hex }));
  }

  async latestBlock(): Promise<BlockRef> {
    const block = await this.read('reading the latest block', () => this.chain.getBlock({ blockTag: 'latest' }));
    return { number: block.number, hash: block.hash, timestamp: block.timestamp };
  }

  async blockNumber(): Promise<bigint> {
    return this.read('reading the block number', () => this.chain.getBlockNumber({ cacheTime: 0 }));
  }

  // ---- transactions ------------------------------------------------------------------------------

  private requireAccount(): PrivateKeyAccount {
    if (!this.account) throw new CastnetError('BAD_REQUEST', 'this broker client has no key to sign transactions with');
    return this.account;
  }

  /** Current fees: a max fee of twice the base fee plus the suggested tip, as viem estimates them. */
  async fees(): Promise<FeeEstimate> {
    const [f, block] = await this.read('reading gas prices', () => Promise.all([this.chain.estimateFeesPerGas(), this.chain.getBlock({ blockTag: 'latest' })]));
    return { maxFeePerGas: f.maxFeePerGas, maxPriorityFeePerGas: f.maxPriorityFeePerGas, baseFeePerGas: block.baseFeePerGas ?? 0n };
  }

  async pendingNonce(): Promise<number> {
    const account = this.requireAccount();
    return this.read('reading the nonce', () => this.chain.getTransactionCount({ address: account.address, blockTag: 'pending' }));
  }

  /**
   * A signed transaction, not yet sent: its hash is known before it is broadcast, so a caller can record it
   * first (a crash after the broadcast then finds it again). Gas is estimated, which also surfaces a revert
   * with its reason before anything is spent.
   */
  async signTransaction(request: { to: Hex | null; data: Hex; value?: bigint; nonce: number; fees: FeeQuote; gas?: bigint }, what: string): Promise<{ raw: Hex; hash: Hex; gas: bigint }> {
    const account = this.requireAccount();
    const chainId = await this.chainId();
    const gas =
      request.gas ??
      // Against the pending block: a ticket made at the latest block is redeemable in the next one.
      (await this.read(what, () => this.chain.estimateGas({ account: account.address, ...(request.to ? { to: request.to } : {}), data: request.data, value: request.value ?? 0n, blockTag: 'pending' })));
    // 20% over the estimate: the state may move between the estimate and the block.
    const gasLimit = request.gas ?? (gas * 12n) / 10n;
    const raw = await account.signTransaction({
      type: 'eip1559',
      chainId,
      nonce: request.nonce,
      gas: gasLimit,
      maxFeePerGas: request.fees.maxFeePerGas,
      maxPriorityFeePerGas: request.fees.maxPriorityFeePerGas,
      ...(request.to ? { to: request.to } : {}),
      data: request.data,
      value: request.value ?? 0n,
    });
    return { raw, hash: keccak256(raw), gas: gasLimit };
  }

  async broadcast(raw: Hex, what: string): Promise<Hex> {
    return this.read(what, () => this.chain.sendRawTransaction({ serializedTransaction: raw }));
  }

  /** The receipt once `confirmations` blocks hold it, or null when it is not mined within `timeoutMs`. */
  async receipt(hash: Hex, confirmations: number, timeoutMs: number): Promise<TransactionReceipt | null> {
    try {
      return await this.chain.waitForTransactionReceipt({ hash, confirmations, timeout: timeoutMs });
    } catch (err) {
      if (err instanceof BaseError && err.name === 'WaitForTransactionReceiptTimeoutError') return null;
      throw chainFailure(err, 'waiting for a transaction', this.rpcUrl);
    }
  }

  /** The receipt if the transaction is mined, else null (no waiting). */
  async receiptNow(hash: Hex): Promise<TransactionReceipt | null> {
    try {
      return await this.chain.getTransactionReceipt({ hash });
    } catch (err) {
      if (err instanceof BaseError && err.name === 'TransactionReceiptNotFoundError') return null;
      throw chainFailure(err, 'reading a transaction', this.rpcUrl);
    }
  }

  /** Whether the node still knows the transaction (mined or waiting in its pool). */
  async known(hash: Hex): Promise<boolean> {
    try {
      await this.chain.getTransaction({ hash });
      return true;
    } catch (err) {
      if (err instanceof BaseError && err.name === 'TransactionNotFoundError') return false;
      throw chainFailure(err, 'reading a transaction', this.rpcUrl);
    }
  }

  /** Signs, sends and waits for one transaction of the account holder; a revert is CHAIN_REFUSED with its reason. */
  async sendTransaction(request: { to: Hex | null; data: Hex; value?: bigint }, what: string): Promise<TransactionReceipt> {
    const account = this.requireAccount();
    // Simulated first: a refusal costs nothing and says why.
    if (request.to) await this.read(what, () => this.chain.call({ account: account.address, to: request.to!, data: request.data, value: request.value ?? 0n, blockTag: 'pending' }));
    const signed = await this.signTransaction({ ...request, nonce: await this.pendingNonce(), fees: await this.fees() }, what);
    await this.broadcast(signed.raw, what);
    const receipt = await this.receipt(signed.hash, 1, RECEIPT_TIMEOUT_MS);
    if (!receipt) throw new CastnetError('UNAVAILABLE', `${what}: transaction ${signed.hash} was not mined within ${RECEIPT_TIMEOUT_MS / 1000} s`, { node: this.rpcUrl });
    if (receipt.status !== 'success') throw new CastnetError('CHAIN_REFUSED', `${what}: transaction ${signed.hash} reverted`, { node: this.rpcUrl, reason: 'reverted' });
    return receipt;
  }

  private call(functionName: 'fundDepositAndReserve' | 'unlock' | 'cancelUnlock' | 'withdraw', args: readonly unknown[], value: bigint, what: string): Promise<TransactionReceipt> {
    const data = encodeFunctionData({ abi: brokerAbi, functionName, args } as Parameters<typeof encodeFunctionData>[0]);
    return this.sendTransaction({ to: this.address, data, value }, what);
  }

  fund(deposit: bigint, reserve: bigint): Promise<TransactionReceipt> {
    return this.call('fundDepositAndReserve', [deposit, reserve], deposit + reserve, 'funding the deposit and reserve');
  }

  /** Funds `sender`'s deposit and reserve from this client's account (anyone may; it does not cancel an unlock). */
  fundFor(sender: string, deposit: bigint, reserve: bigint): Promise<TransactionReceipt> {
    const data = encodeFunctionData({ abi: brokerAbi, functionName: 'fundDepositAndReserveFor', args: [sender as Hex, deposit, reserve] });
    return this.sendTransaction({ to: this.address, data, value: deposit + reserve }, `funding ${sender}'s deposit and reserve`);
  }

  unlock(): Promise<TransactionReceipt> {
    return this.call('unlock', [], 0n, 'starting the unlock period');
  }

  cancelUnlock(): Promise<TransactionReceipt> {
    return this.call('cancelUnlock', [], 0n, 'cancelling the unlock');
  }

  withdraw(): Promise<TransactionReceipt> {
    return this.call('withdraw', [], 0n, 'withdrawing the deposit and reserve');
  }

  withdrawEarnings(to: string, amount: bigint): Promise<TransactionReceipt> {
    const data = encodeFunctionData({ abi: brokerAbi, functionName: 'withdrawEarnings', args: [to as Hex, amount] });
    return this.sendTransaction({ to: this.address, data }, 'withdrawing earnings');
  }

  /** Sends ETH (gas money) from this client's account. */
  async transfer(to: string, value: bigint): Promise<TransactionReceipt> {
    return this.sendTransaction({ to: to as Hex, data: '0x', value }, `sending ${value} wei to ${to}`);
  }

  // ---- redemption --------------------------------------------------------------------------------

  static redeemBatchData(winners: readonly ChainWinner[]): Hex {
    return encodeFunctionData({
      abi: brokerAbi,
      functionName: 'redeemWinningTickets',
      args: [winners.map((w) => ticketStruct(w.ticket)), winners.map((w) => hex(w.signature)), winners.map((w) => hex(w.recipientRand))],
    });
  }

  static redeemOneData(winner: ChainWinner): Hex {
    return encodeFunctionData({ abi: brokerAbi, functionName: 'redeemWinningTicket', args: [ticketStruct(winner.ticket), hex(winner.signature), hex(winner.recipientRand)] });
  }

  /** The redemption events in a receipt's logs (this broker's only). */
  redemptionEvents(logs: readonly Log[]): RedemptionEvent[] {
    const events: RedemptionEvent[] = [];
    for (const log of logs) {
      if (log.address.toLowerCase() !== this.address) continue;
      const event = decodeRedemption(log);
      if (event) events.push(event);
    }
    return events;
  }

  /** Redemption events from `fromBlock` on, optionally for one ticket hash or one recipient. */
  async redemptionLogs(filter: { fromBlock?: bigint; toBlock?: bigint; ticketHash?: string; recipient?: string }): Promise<RedemptionEvent[]> {
    const args = { ...(filter.ticketHash ? { ticketHash: filter.ticketHash as Hex } : {}), ...(filter.recipient ? { recipient: filter.recipient as Hex } : {}) };
    const range = { address: this.address, fromBlock: filter.fromBlock ?? 0n, toBlock: filter.toBlock ?? ('latest' as const) };
    const [redeemed, refused] = await this.read('reading redemption events', () =>
      Promise.all([
        this.chain.getLogs({ ...range, event: eventAbi('WinningTicketRedeemed'), args }),
        this.chain.getLogs({ ...range, event: eventAbi('WinningTicketRefused'), args }),
      ]),
    );
    const logs = [...redeemed, ...refused].sort((a, b) => Number(a.blockNumber - b.blockNumber) || a.logIndex - b.logIndex);
    return this.redemptionEvents(logs);
  }

  /** Every event of this broker between two blocks, decoded (for tests and the event indexer). */
  async events(fromBlock: bigint, toBlock: bigint | 'latest' = 'latest'): Promise<Array<{ eventName: string; args: Record<string, unknown>; blockNumber: bigint; txHash: Hex }>> {
    const logs = await this.read('reading broker events', () => this.chain.getLogs({ address: this.address, fromBlock, toBlock }));
    return logs.map((log) => {
      const decoded = decodeEventLog({ abi: brokerAbi, data: log.data, topics: log.topics });
      return { eventName: decoded.eventName, args: decoded.args as unknown as Record<string, unknown>, blockNumber: log.blockNumber!, txHash: log.transactionHash! };
    });
  }
}

function eventAbi<N extends 'WinningTicketRedeemed' | 'WinningTicketRefused'>(name: N) {
  return brokerAbi.find((e): e is Extract<(typeof brokerAbi)[number], { type: 'event'; name: N }> => e.type === 'event' && e.name === name)!;
}

function encodeConstructor(p: BrokerParameters): Hex {
  // The constructor takes three uint256s, ABI-encoded as three 32-byte words.
  return `0x${[p.unlockPeriod, p.ticketValidityBlocks, p.reserveRecipients].map((v) => v.toString(16).padStart(64, '0')).join('')}`;
}

function decodeRedemption(log: Log): RedemptionEvent | null {
  let decoded;
  try {
    decoded = decodeEventLog({ abi: brokerAbi, data: log.data, topics: log.topics });
  } catch {
    return null;
  }
  const where = { blockNumber: log.blockNumber ?? 0n, txHash: (log.transactionHash ?? '0x') as Hex };
  if (decoded.eventName === 'WinningTicketRedeemed') {
    const a = decoded.args;
    return { ticketHash: a.ticketHash, sender: lower(a.sender), recipient: lower(a.recipient), outcome: 'redeemed', faceValue: a.faceValue, paid: a.paid, fromReserve: a.fromReserve, ...where };
  }
  if (decoded.eventName === 'WinningTicketRefused') {
    const a = decoded.args;
    return { ticketHash: a.ticketHash, sender: lower(a.sender), recipient: lower(a.recipient), outcome: 'refused', reason: a.reason, ...where };
  }
  return null;
}

const lower = (a: string) => a.toLowerCase() as Hex;
