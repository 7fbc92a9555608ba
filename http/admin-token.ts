// The operator's admin token: a random bearer secret kept in `<data-dir>/keys/admin-token` (mode 0600),
// made on first use, that authorizes the dashboard's operator routes (creating and listing stream keys).
// Presented only as `Authorization: Bearer <token>`: never in a query string (it would land in logs and
// browser history) and never in a cookie (so a page on another origin cannot make a browser send it:
// no CSRF). Compared in constant time; every attempt, right or wrong, is rate-limited per source address.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Request } from 'express';
import { CastnetError } from '../protocol/errors.ts';
import type { RateLimiter } from './rate-limiter.ts';
import { sourceOf } from './signed-writes.ts';

export const ADMIN_TOKEN_PREFIX = 'cat_';
const TOKEN_PATTERN = /^cat_[A-Za-z0-9_-]{43}$/;

/** Where the admin token of a data directory lives. */
export function adminTokenPath(dataDir: string): string {
  return join(dataDir, 'keys', 'admin-token');
}

export function newAdminToken(): string {
  return `${ADMIN_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** The data directory's admin token, made (0600) when there is none; a throwaway one without a data directory. */
export function loadOrCreateAdminToken(dataDir: string | null): string {
  if (!dataDir) return newAdminToken();
  const path = adminTokenPath(dataDir);
  try {
    const token = readFileSync(path, 'utf8').trim();
    if (!TOKEN_PATTERN.test(token)) throw new CastnetError('INTERNAL', `the admin token file ${path} is corrupt: remove it and a new token is made at the next start`, { file: path });
    return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
  const token = newAdminToken();
  try {
    writeFileSync(path, `${token}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    // Another process made it first: theirs is the token.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateAdminToken(dataDir);
    throw err;
  }
  chmodSync(path, 0o600);
  return token;
}

/** An admin token kept in a file another role made (an orchestrator holding its key issuer's): read and checked once, at start. */
export function readAdminTokenFile(path: string): string {
  let token: string;
  try {
    token = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new CastnetError('BAD_REQUEST', `cannot read the admin token file ${path}: ${(err as Error).message}`, { file: path }, { cause: err });
  }
  if (!TOKEN_PATTERN.test(token)) throw new CastnetError('BAD_REQUEST', `${path} does not hold an admin token (cat_ and 43 characters, as castnet keys admin-token prints)`, { file: path });
  return token;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Checks requests for the admin token; throws UNAUTHORIZED (401), BAD_REQUEST or RATE_LIMITED with a reason. */
export class AdminTokenGate {
  private readonly expected: Buffer;
  private readonly attempts: RateLimiter;

  constructor(token: string, attempts: RateLimiter) {
    this.expected = digest(token);
    this.attempts = attempts;
  }

  check(req: Request): void {
    const source = sourceOf(req);
    // Counted before the compare, so guessing is bounded to the limiter's rate.
    if (!this.attempts.take(source)) throw new CastnetError('RATE_LIMITED', 'too many admin requests from this address: wait and retry', { reason: 'admin_token_rate' });
    const url = new URL(req.originalUrl, 'http://x');
    for (const name of ['token', 'access_token', 'auth']) {
      if (url.searchParams.has(name)) {
        throw new CastnetError('BAD_REQUEST', 'the admin token goes in the Authorization header (Bearer), never in the URL: URLs end up in logs and history', { reason: 'token_in_query' });
      }
    }
    const header = req.get('authorization') ?? '';
    const match = /^Bearer ([^\s]+)$/.exec(header);
    if (!match) {
      throw new CastnetError('UNAUTHORIZED', 'this needs the operator admin token as "Authorization: Bearer <token>" (castnet keys admin-token prints it)', { reason: 'token_missing' });
    }
    // Equal-length digests: the compare takes the same time whatever the guess.
    if (!timingSafeEqual(digest(match[1]!), this.expected)) {
      throw new CastnetError('UNAUTHORIZED', 'wrong admin token', { reason: 'token_wrong' });
    }
  }
}
