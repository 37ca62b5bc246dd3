/** The token check itself (server/gateway/auth.ts): what it accepts, what it refuses, what it remembers. */
import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import { SignJWT } from 'jose';
import { signToken } from '../clients/cli/token.js';
import { AppError } from '../server/errors.js';
import { createVerifier } from '../server/gateway/auth.js';
import { until } from './support/wait.js';

const SECRET = 'auth-test-secret-0123456789abcdef';
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (err) {
    return err instanceof AppError ? err.code : `unexpected ${String(err)}`;
  }
}

describe('token verification', () => {
  const verify = createVerifier(SECRET);

  it('accepts a token of the secret, with its id, role and expiry, the same when asked again', async () => {
    const token = await signToken(SECRET, 'p1', 'passenger');
    const first = await verify(token);
    expect(first).to.include({ id: 'p1', role: 'passenger' });
    expect(first.exp * 1000).to.be.greaterThan(Date.now());
    expect(await verify(token)).to.deep.equal(first);
  });

  it('refuses another secret, a changed payload, other algorithms, crit headers, a missing exp, a future nbf and junk', async () => {
    const other = await signToken('another-secret-0123456789abcdef', 'p1', 'passenger');
    const good = await signToken(SECRET, 'p1', 'passenger');
    const [head, , sig] = good.split('.');
    const exp = Math.floor(Date.now() / 1000) + 60;
    const changed = `${head}.${b64({ sub: 'p1', role: 'admin', exp })}.${sig}`;
    const none = `${b64({ alg: 'none' })}.${b64({ sub: 'p1', role: 'admin', exp })}.`;
    const noExpBody = `${head}.${b64({ sub: 'p1', role: 'passenger' })}`;
    const noExp = `${noExpBody}.${createHmac('sha256', SECRET).update(noExpBody).digest('base64url')}`;
    const signed = (header: object, body: object) => {
      const input = `${b64(header)}.${b64(body)}`;
      return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
    };
    const hs512 = await new SignJWT({ role: 'passenger' }).setProtectedHeader({ alg: 'HS512' }).setSubject('p1').setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));
    const crit = signed({ alg: 'HS256', crit: ['x'], x: 1 }, { sub: 'p1', role: 'passenger', exp });
    const notYet = signed({ alg: 'HS256' }, { sub: 'p1', role: 'passenger', exp, nbf: exp - 1 });
    const badRole = signed({ alg: 'HS256' }, { sub: 'p1', role: 'root', exp });
    const paddedSig = `${good}A`;
    expect(await verify(signed({ alg: 'HS256' }, { sub: 'p1', role: 'passenger', exp }))).to.include({ id: 'p1' });
    for (const t of [other, changed, none, noExp, hs512, crit, notYet, badRole, paddedSig, 'a.b', 'junk', '', 42, undefined, 'a'.repeat(5000)]) {
      expect(await refusal(verify(t)), String(t).slice(0, 40)).to.equal('UNAUTHORIZED');
    }
  });

  it('refuses a remembered token once it has expired', async () => {
    const token = await signToken(SECRET, 'p2', 'driver', '2s');
    const user = await verify(token);
    expect(user.role).to.equal('driver');
    await until(() => Date.now() > user.exp * 1000, 'the token to expire', 4000, 50);
    expect(await refusal(verify(token))).to.equal('UNAUTHORIZED');
  });
});
