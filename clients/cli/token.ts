/** Mint an HS256 token with the claims the contract asks for (sub, role, exp). */
import { SignJWT } from 'jose';
import type { UserRole } from '../../protocol/index.js';

export async function signToken(secret: string, sub: string, role: UserRole, ttl: string | number = '1h'): Promise<string> {
  return new SignJWT({ role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(ttl)
    .sign(new TextEncoder().encode(secret));
}
