// The embedded ledger's API under /api/ledger: accounts, deposits (signed by an operator key: only the
// operator mints balances), redemptions of winning tickets, and withdrawals of earnings signed by their
// owner.

import { Router, type Response } from 'express';
import { CastnetError } from '../protocol/errors.ts';
import { addressString, parseRequest } from '../protocol/fields.ts';
import { depositRequestSchema, redemptionRequestSchema, type AccountJson } from '../protocol/redemption.ts';
import { withdrawalRequestSchema, type WithdrawalAnswer } from '../protocol/withdrawal.ts';
import type { Account, Ledger } from './ledger.ts';

const accountJson = (a: Account): AccountJson => ({ address: a.address, deposit: a.deposit.toString(), reserve: a.reserve.toString(), reserveClaimed: a.reserveClaimed.toString(), earned: a.earned.toString(), spent: a.spent.toString(), withdrawn: a.withdrawn.toString() });

/** Throws unless the request was signed by an operator key (signed-writes.ts and the orchestrator's operator list). */
export type DepositAuthorization = (res: Response) => void;

export function ledgerRoutes(ledger: Ledger, authorizeDeposit: DepositAuthorization): Router {
  const router = Router();
  router.get('/accounts', (_req, res) => {
    res.json(ledger.accounts().map(accountJson));
  });
  router.get('/accounts/:address', (req, res) => {
    if (!addressString.safeParse(req.params.address).success) throw new CastnetError('BAD_REQUEST', 'invalid address');
    const recipient = req.query['recipient'];
    if (recipient === undefined) {
      res.json(accountJson(ledger.account(req.params.address)));
      return;
    }
    // A recipient asks what one winning ticket from this sender would pay it (the reserve is split per recipient).
    if (typeof recipient !== 'string' || !addressString.safeParse(recipient).success) throw new CastnetError('BAD_REQUEST', 'invalid recipient address');
    res.json({ ...accountJson(ledger.account(req.params.address)), payable: ledger.payableTo(req.params.address, recipient).toString() });
  });
  router.post('/deposits', (req, res) => {
    authorizeDeposit(res);
    const d = parseRequest(depositRequestSchema, req.body, 'deposit');
    res.json(accountJson(ledger.fund(d.address, d.amount, d.reserve)));
  });
  router.post('/redemptions', (req, res) => {
    const r = parseRequest(redemptionRequestSchema, req.body, 'redemption');
    const redemption = ledger.redeem(r.ticket, r.signature, r.recipientRand);
    res.json({ ticketHash: redemption.ticketHash, paid: redemption.paid.toString(), fromReserve: redemption.fromReserve.toString() });
  });
  router.post('/withdrawals', (req, res) => {
    const { signature, ...w } = parseRequest(withdrawalRequestSchema, req.body, 'withdrawal');
    const a = ledger.withdraw(w, signature);
    const answer: WithdrawalAnswer = { address: a.address, amount: w.amount.toString(), to: w.to, timestamp: w.timestamp, withdrawn: a.withdrawn.toString(), withdrawable: (a.earned - a.withdrawn).toString() };
    res.json(answer);
  });
  return router;
}
