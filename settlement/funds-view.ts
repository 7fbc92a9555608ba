// What this transcoder knows of each sender's funds, with bounded staleness: the settlement (ledger or
// chain) is asked what one winning ticket from the sender would pay this recipient; an answer younger than
// `refreshMs` is reused without asking, and when the settlement cannot be reached an answer up to
// `maxAgeMs` old stands in. Past that the transcoder does not know, and says so (the payment is refused
// with funds_unknown) rather than working on trust. Hot path: once per paid segment.

import { CastnetError } from '../protocol/errors.ts';
import type { Settlement } from './settlement.ts';
import type { FundsLookup } from './payment-receiver.ts';

/** Senders remembered at most; the oldest answer goes first. */
const MAX_SENDERS = 10_000;

export interface FundsViewOptions {
  settlement: Pick<Settlement, 'payableTo' | 'description'>;
  recipient: string;
  /** Answers younger than this are reused without asking. */
  refreshMs: number;
  /** The oldest answer used when the settlement cannot be asked. */
  maxAgeMs: number;
  now?: () => number;
}

export function fundsView(options: FundsViewOptions): FundsLookup {
  const now = options.now ?? Date.now;
  const cache = new Map<string, { at: number; payable: bigint }>();
  return async (sender) => {
    const hit = cache.get(sender);
    if (hit && now() - hit.at < options.refreshMs) return hit.payable;
    try {
      const payable = await options.settlement.payableTo(sender, options.recipient);
      cache.delete(sender);
      if (cache.size >= MAX_SENDERS) cache.delete(cache.keys().next().value!);
      cache.set(sender, { at: now(), payable });
      return payable;
    } catch (err) {
      if (hit && now() - hit.at <= options.maxAgeMs) return hit.payable;
      const known = hit ? `what was known is ${Math.round((now() - hit.at) / 1000)} s old, past the ${options.maxAgeMs / 1000} s trusted` : 'nothing is known of it yet';
      throw new CastnetError('UNAVAILABLE', `${options.settlement.description} could not be asked about sender ${sender} (${(err as Error).message}); ${known}`, {}, { cause: err });
    }
  };
}
