// Wire contract of a failure report: a broadcaster telling the orchestrator that a node assigned to one of
// its streams failed, and why. Reports travel in the session request (`failures`, beside `avoid`), count
// only from the key that owns the stream and only about nodes assigned to it, and each reason weighs on
// the node's reputation (orchestrator/node-reputation.ts). The reason is an open set of stable codes, so a
// new kind of failure needs no change here.

import { z } from 'zod';

/** Reasons the broadcaster sends today; others are accepted and weigh the default. */
export const FAILURE_REASONS = ['unreachable', 'transcoder_error', 'payment_refused', 'bad_output', 'verification_failed', 'publish_failed'] as const;
export type KnownFailureReason = (typeof FAILURE_REASONS)[number];

export const failureReasonSchema = z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'a failure reason is a code of 1-32 of a-z 0-9 _');

export const failureReportSchema = z.object({
  /** The node's URL or id, as the assignment named it. */
  node: z.string().max(2_048),
  reason: failureReasonSchema,
  /** Optional words for the operator (shown in logs, never parsed). */
  detail: z.string().max(500).optional(),
});
export type FailureReport = z.infer<typeof failureReportSchema>;

/** Reports one session request may carry. */
export const MAX_FAILURE_REPORTS = 16;
