// Wire contract of paid delivery (issue 14): the viewer-session certificate a stream's payer signs for a
// player's ephemeral key, the cumulative receipt a player (or an edge relay, with its node key) signs for
// the bytes one relay delivered, and the claim a relay sends the payer with its newest receipts. Every
// signature is EIP-191 over keccak-256 of a versioned, fixed-order JSON array, so no signature over one of
// these reads as another (or as a ticket or a signed request). Runs in the browser (the player) too, so it
// imports nothing of Node's; the relay-to-payer claim lives in delivery-claim.ts.

import { keccak_256 } from '@noble/hashes/sha3.js';
import { z } from 'zod';
import { addressString, decimalString, idPattern, renditionNamePattern, signatureString } from './fields.ts';
import { fromHex, recoverSigner, signHash, toHex } from './ticket.ts';

export const CERTIFICATE_DOMAIN = 'castnet/viewer-session/1';
export const RECEIPT_DOMAIN = 'castnet/receipt/1';
/** A signed receipt (certificate included) is about 700 bytes of JSON; anything far larger is not one. */
export const MAX_RECEIPT_BODY_BYTES = 4 * 1024;
/** Receipts one claim carries at most: the payer checks each one's signatures (two recoveries). */
export const MAX_RECEIPTS_PER_CLAIM = 256;
/** The most bytes one receipt may count (2^53 − 1 would also fit a JSON number; 1 PiB is no session). */
export const MAX_RECEIPT_BYTES = 2 ** 50;

const address = addressString.transform((a) => a.toLowerCase());

export const sessionCertificateSchema = z.object({
  playbackId: z.string().regex(idPattern),
  /** Address of the player's ephemeral key: only it signs this session's receipts. */
  sessionKey: address,
  /** The stream's payer (its broadcaster's payment key), which signs this certificate. */
  payer: address,
  issuedAt: z.number().int().nonnegative(),
  expiresAt: z.number().int().nonnegative(),
  /** Bytes this session may be paid for, over every relay it uses. */
  byteBudget: z.number().int().positive().max(MAX_RECEIPT_BYTES),
});
export type SessionCertificate = z.infer<typeof sessionCertificateSchema>;

export const signedCertificateSchema = z.object({ certificate: sessionCertificateSchema, signature: signatureString });
export type SignedCertificate = z.infer<typeof signedCertificateSchema>;

export const receiptSchema = z.object({
  /** The signer: a viewer session's key, or an edge relay's node key. */
  session: address,
  playbackId: z.string().regex(idPattern),
  /** The relay's payment address: only that relay can claim this receipt. */
  relay: address,
  /** Cumulative segment bytes received from that relay in this session; never goes down. */
  bytes: z.number().int().nonnegative().max(MAX_RECEIPT_BYTES),
  /** The last segment counted. */
  rendition: z.string().regex(renditionNamePattern),
  sequence: z.number().int().nonnegative().max(1e12),
  /** When it was signed (ms), by the signer's clock. */
  at: z.number().int().nonnegative(),
});
export type Receipt = z.infer<typeof receiptSchema>;

/** A receipt with its signature, and for a viewer the session's certificate; none for an edge's receipt. */
export const signedReceiptSchema = z.object({
  receipt: receiptSchema,
  signature: signatureString,
  certificate: signedCertificateSchema.optional(),
});
export type SignedReceipt = z.infer<typeof signedReceiptSchema>;

/** A stream's paid-delivery terms, as its broadcaster states them and the directory repeats them. */
export const deliveryTermsSchema = z.object({
  /** The payer's payment address: it signs viewer-session certificates and tickets. */
  payer: addressString.transform((a) => a.toLowerCase()),
  /** The payer's delivery API (`POST /delivery/sessions`, `POST /delivery/claims`). */
  url: z.url().max(2_048),
  /** Wei per byte at most: relays asking more are not used for the stream. */
  maxPricePerByte: decimalString,
});
export type DeliveryTerms = z.infer<typeof deliveryTermsSchema>;

/** What a player sends to ask for a viewer session (`POST /delivery/sessions` at the payer). */
export const viewerSessionRequestSchema = z.object({ playbackId: z.string().regex(idPattern), sessionKey: address });

const utf8 = (fields: unknown[]) => keccak_256(new TextEncoder().encode(JSON.stringify(fields)));

export function certificateHash(c: SessionCertificate): Uint8Array {
  return utf8([CERTIFICATE_DOMAIN, c.playbackId, c.sessionKey, c.payer, c.issuedAt, c.expiresAt, c.byteBudget]);
}

export function receiptHash(r: Receipt): Uint8Array {
  return utf8([RECEIPT_DOMAIN, r.session, r.playbackId, r.relay, r.bytes, r.rendition, r.sequence, r.at]);
}

export function signCertificate(c: SessionCertificate, payerKey: Uint8Array): SignedCertificate {
  return { certificate: c, signature: toHex(signHash(certificateHash(c), payerKey)) };
}

export function signReceipt(r: Receipt, key: Uint8Array, certificate?: SignedCertificate): SignedReceipt {
  return { receipt: r, signature: toHex(signHash(receiptHash(r), key)), ...(certificate ? { certificate } : {}) };
}

/** The address that signed the certificate, or null for a malformed signature. */
export function certificateSigner(c: SignedCertificate): string | null {
  return recoverSigner(certificateHash(c.certificate), fromHex(c.signature, 65));
}

export function receiptSigner(r: SignedReceipt): string | null {
  return recoverSigner(receiptHash(r.receipt), fromHex(r.signature, 65));
}

/**
 * The signature checks anyone can make with no state: the receipt is signed by its `session` and, for a
 * viewer, the certificate is signed by its payer, names that session key and stream, and covers the
 * receipt's time. Null when they hold, else the refusal.
 */
export function checkReceiptSignatures(r: SignedReceipt, options: { certificateVerified?: boolean } = {}): 'bad_signature' | 'bad_certificate' | 'wrong_stream' | 'expired' | null {
  if (receiptSigner(r) !== r.receipt.session) return 'bad_signature';
  const c = r.certificate;
  // A certificate already verified (the same one as the session's previous receipt) costs no second recovery.
  if (c && !options.certificateVerified && certificateSigner(c) !== c.certificate.payer) return 'bad_certificate';
  return checkReceiptFields(r);
}

/**
 * The checks of checkReceiptSignatures that need no signature recovery (microseconds, not milliseconds):
 * the certificate names the receipt's session key and stream and covers the receipt's time.
 */
export function checkReceiptFields(r: SignedReceipt): 'bad_certificate' | 'wrong_stream' | 'expired' | null {
  const c = r.certificate;
  if (!c) return null;
  if (c.certificate.sessionKey !== r.receipt.session) return 'bad_certificate';
  if (c.certificate.playbackId !== r.receipt.playbackId) return 'wrong_stream';
  if (r.receipt.at > c.certificate.expiresAt) return 'expired';
  return null;
}

/**
 * A receipt may ride on the player's next segment request to the relay it names, as this query parameter
 * (base64url of the signed receipt's JSON): no request of its own, and no CORS preflight, which a custom
 * request header would cost a browser on every segment URL (preflight answers are cached per URL).
 */
export const RECEIPT_PARAM = 'castnet-receipt';
/** The relay's answer to a receipt that rode on a segment request: `kept`, or `refused; reason=<reason>`. */
export const RECEIPT_ANSWER_HEADER = 'castnet-receipt';
/** The parameter's value at most: a bounded receipt body, base64url. */
export const MAX_RECEIPT_PARAM_CHARS = Math.ceil((MAX_RECEIPT_BODY_BYTES * 4) / 3);

/** `url` with `signed` as its receipt parameter (other parameters, e.g. a playback token, kept). */
export function withReceiptParam(url: string, signed: SignedReceipt): string {
  const json = JSON.stringify(signed);
  // Receipts are ASCII JSON (hex, decimals, ids), so btoa's Latin-1 input is the UTF-8 bytes.
  const b64 = btoa(json).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return `${url}${url.includes('?') ? '&' : '?'}${RECEIPT_PARAM}=${b64}`;
}

/** The JSON value a receipt parameter carries, or null when it is not base64url of at most MAX_RECEIPT_BODY_BYTES of JSON. */
export function decodeReceiptParam(value: string): unknown {
  if (value.length > MAX_RECEIPT_PARAM_CHARS || !/^[A-Za-z0-9_-]+$/.test(value)) return null;
  try {
    return JSON.parse(atob(value.replace(/-/g, '+').replace(/_/g, '/')));
  } catch {
    return null;
  }
}

/** What a relay answered in RECEIPT_ANSWER_HEADER: kept, refused with its reason, or null for no answer (a relay that ignores the parameter). */
export function parseReceiptAnswer(header: string | null): { kept: true } | { kept: false; reason: string } | null {
  if (!header) return null;
  if (header === 'kept') return { kept: true };
  const m = /^refused; reason=([a-z_]{1,40})$/.exec(header);
  return m ? { kept: false, reason: m[1]! } : null;
}
