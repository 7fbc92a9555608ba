// The headers that travel with low-latency parts and init segments (broadcaster → origin relay → edges →
// players), parsed at the edge into typed values. The claims they carry are signed (part-signature.ts).

import { z } from 'zod';
import { parseRequest } from './fields.ts';
import { CONTENT_SIGNATURE_HEADER } from './content-signature.ts';
import { MAX_PART_TARGET_S, MIN_PART_TARGET_S, PART_HEADERS } from './part-signature.ts';

export interface PartMetadata {
  duration: number;
  independent: boolean;
}

const partSchema = z.object({
  duration: z.coerce.number().positive().max(MAX_PART_TARGET_S + 0.01),
  independent: z.enum(['0', '1']).transform((v) => v === '1'),
});

const partTargetSchema = z.coerce.number().min(MIN_PART_TARGET_S).max(MAX_PART_TARGET_S).refine((v) => Number(v.toFixed(3)) === v, 'at most three decimals');

type Headers = Record<string, string | string[] | undefined>;

export function parsePartMetadata(headers: Headers): PartMetadata {
  return parseRequest(partSchema, { duration: headers[PART_HEADERS.duration], independent: headers[PART_HEADERS.independent] }, 'part headers');
}

export function parsePartTarget(headers: Headers): number {
  return parseRequest(partTargetSchema, headers[PART_HEADERS.partTarget], 'castnet-part-target header');
}

export function partHeaders(meta: PartMetadata, signature: string): Record<string, string> {
  return { [PART_HEADERS.duration]: meta.duration.toFixed(6), [PART_HEADERS.independent]: meta.independent ? '1' : '0', [CONTENT_SIGNATURE_HEADER]: signature };
}

export function initHeaders(partTarget: number, signature: string): Record<string, string> {
  return { [PART_HEADERS.partTarget]: partTarget.toFixed(3), [CONTENT_SIGNATURE_HEADER]: signature };
}

/** Headers a player on another origin must be able to read to check parts and init segments (CORS). */
export const SIGNED_PART_HEADER_NAMES: readonly string[] = [PART_HEADERS.independent, PART_HEADERS.partTarget];
