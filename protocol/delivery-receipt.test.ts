import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { randomIdentity } from './identity.ts';
import { certificateSigner, checkReceiptSignatures, receiptSigner, signCertificate, signReceipt, signedReceiptSchema, type Receipt, type SessionCertificate } from './delivery-receipt.ts';

const payer = randomIdentity();
const viewer = randomIdentity();
const relay = randomIdentity();
const cert: SessionCertificate = { playbackId: 'show', sessionKey: viewer.address, payer: payer.address, issuedAt: 1_000, expiresAt: 61_000, byteBudget: 1_000_000 };
const receipt: Receipt = { session: viewer.address, playbackId: 'show', relay: relay.address, bytes: 5_000, rendition: '720p', sequence: 3, at: 2_000 };

describe('delivery receipts', () => {
  it('signs a certificate with the payer key and a receipt with the session key, both recoverable', () => {
    const c = signCertificate(cert, payer.privateKey);
    assert.equal(certificateSigner(c), payer.address);
    const r = signReceipt(receipt, viewer.privateKey, c);
    assert.equal(receiptSigner(r), viewer.address);
    assert.equal(checkReceiptSignatures(r), null);
    // Through JSON and the schema, as it travels.
    assert.equal(checkReceiptSignatures(signedReceiptSchema.parse(JSON.parse(JSON.stringify(r)))), null);
  });

  it('refuses a receipt whose bytes were changed after signing (bad_signature)', () => {
    const r = signReceipt(receipt, viewer.privateKey, signCertificate(cert, payer.privateKey));
    assert.equal(checkReceiptSignatures({ ...r, receipt: { ...r.receipt, bytes: 50_000 } }), 'bad_signature');
  });

  it('refuses a receipt signed by another key than its session (bad_signature)', () => {
    const r = signReceipt(receipt, randomIdentity().privateKey, signCertificate(cert, payer.privateKey));
    assert.equal(checkReceiptSignatures(r), 'bad_signature');
  });

  it('refuses a certificate a relay minted for itself, or one for another key (bad_certificate)', () => {
    const forged = { ...signCertificate(cert, relay.privateKey) };
    assert.equal(checkReceiptSignatures(signReceipt(receipt, viewer.privateKey, forged)), 'bad_certificate');
    const other = signCertificate({ ...cert, sessionKey: randomIdentity().address }, payer.privateKey);
    assert.equal(checkReceiptSignatures(signReceipt(receipt, viewer.privateKey, other)), 'bad_certificate');
  });

  it('refuses a receipt for another stream than its certificate (wrong_stream), or signed after it expired (expired)', () => {
    const c = signCertificate(cert, payer.privateKey);
    assert.equal(checkReceiptSignatures(signReceipt({ ...receipt, playbackId: 'other' }, viewer.privateKey, c)), 'wrong_stream');
    assert.equal(checkReceiptSignatures(signReceipt({ ...receipt, at: 61_001 }, viewer.privateKey, c)), 'expired');
  });

  it('never reads a receipt signature as a certificate signature (domains differ)', () => {
    const c = signCertificate(cert, payer.privateKey);
    const r = signReceipt(receipt, viewer.privateKey, c);
    assert.notEqual(certificateSigner({ certificate: cert, signature: r.signature }), viewer.address);
  });
});
