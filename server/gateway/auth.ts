/**
 * JWT (HS256) verification for the Socket.IO handshake and REST: ids and roles come only from here.
 *
 * jose decodes the token's header and claims; the signature is checked with node:crypto's HMAC,
 * synchronously. jose's own jwtVerify goes through WebCrypto, one thread-pool job per token: on the
 * REST bench, where every request brings a new token, it took a fifth of a gateway's CPU (see
 * BENCHMARKS.md, "hot paths"). Verified tokens are remembered until they expire.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { Claims, type User } from '../../protocol/index.js';
import { AppError } from '../errors.js';

export type Verify = (token: unknown) => Promise<User & { exp: number }>;
type Verified = User & { exp: number };

/** Verified tokens remembered (a client reuses its token for every request); the oldest go first. */
const CACHE_SIZE = 10_000;

export function createVerifier(secret: string): Verify {
  const key = Buffer.from(secret, 'utf8');
  const verified = new Map<string, Verified>();
  return (token) => {
    try {
      return Promise.resolve(check(token));
    } catch (err) {
      return Promise.reject(err instanceof AppError ? err : new AppError('UNAUTHORIZED', 'invalid or expired token'));
    }
  };

  function check(token: unknown): Verified {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) throw new AppError('UNAUTHORIZED');
    const now = Date.now() / 1000;
    const known = verified.get(token);
    if (known) {
      if (known.exp > now) return known;
      verified.delete(token);
    }
    const user = verifyHs256(token, key, now);
    if (verified.size >= CACHE_SIZE) verified.delete(verified.keys().next().value as string);
    verified.set(token, user);
    return user;
  }
}

/** A compact JWS signed with HS256 over exactly its first two parts, unexpired, with the contract's claims. */
function verifyHs256(token: string, key: Buffer, nowS: number): Verified {
  const parts = token.split('.');
  if (parts.length !== 3) throw new AppError('UNAUTHORIZED', 'malformed token');
  const header = decodeProtectedHeader(token);
  // Only plain HS256: no other algorithm (nor `none`), no critical extensions, no unencoded payload.
  if (header.alg !== 'HS256' || header.crit !== undefined || header.b64 !== undefined) throw new AppError('UNAUTHORIZED', 'unsupported token');
  const expected = Buffer.from(createHmac('sha256', key).update(`${parts[0]}.${parts[1]}`).digest('base64url'));
  const given = Buffer.from(parts[2] as string);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new AppError('UNAUTHORIZED', 'invalid token');
  const payload = decodeJwt(token);
  if (typeof payload.exp !== 'number' || payload.exp <= nowS) throw new AppError('UNAUTHORIZED', 'invalid or expired token');
  if (typeof payload.nbf === 'number' && payload.nbf > nowS) throw new AppError('UNAUTHORIZED', 'token not yet valid');
  const claims = Claims.parse(payload);
  return { id: claims.sub, role: claims.role, exp: payload.exp };
}

/** The token of an `Authorization: Bearer <token>` header, if any. */
export function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return m?.[1];
}
