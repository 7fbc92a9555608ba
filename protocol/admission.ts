// Wire contract of admission: which node keys the operator allows or denies (`POST /api/admission`,
// signed by an operator key) and what `GET /api/admission` answers: the mode, the operator addresses,
// both lists and the bans in force.

import { z } from 'zod';
import { addressString } from './fields.ts';

/** A key onto the allow or deny list, or (null) off both. */
export const admissionChangeSchema = z.object({ address: addressString.transform((a) => a.toLowerCase()), list: z.enum(['allow', 'deny']).nullable() });
export type AdmissionChange = z.infer<typeof admissionChangeSchema>;

export const admissionAnswerSchema = z.object({
  mode: z.enum(['open', 'allowlist']),
  operators: z.array(z.string()),
  entries: z.array(z.object({ address: z.string(), list: z.enum(['allow', 'deny']), changedAt: z.string() })),
  bans: z.array(z.object({ address: z.string(), until: z.string(), reason: z.string(), bans: z.number() })),
});
export type AdmissionAnswer = z.infer<typeof admissionAnswerSchema>;
