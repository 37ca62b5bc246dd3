/** JWT (HS256) verification for the Socket.IO handshake and REST: ids and roles come only from here. */
import { createSecretKey } from 'node:crypto';
import { jwtVerify } from 'jose';
import { Claims } from '../../protocol/index.js';
import { AppError } from '../errors.js';
import type { User } from '../calls/service.js';

export type Verify = (token: unknown) => Promise<User & { exp: number }>;

export function createVerifier(secret: string): Verify {
  const key = createSecretKey(Buffer.from(secret, 'utf8'));
  return async (token) => {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) throw new AppError('UNAUTHORIZED');
    try {
      const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] });
      const claims = Claims.parse(payload);
      return { id: claims.sub, role: claims.role, exp: payload.exp as number };
    } catch {
      throw new AppError('UNAUTHORIZED', 'invalid or expired token');
    }
  };
}

/** The token of an `Authorization: Bearer <token>` header, if any. */
export function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return m?.[1];
}
