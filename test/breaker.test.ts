/** The Redis circuit breakers (server/gateway/breaker.ts): slow work is answered UNAVAILABLE, and each circuit opens alone. */
import { expect } from 'chai';
import { AppError } from '../server/errors.js';
import { createBreaker } from '../server/gateway/breaker.js';
import { createLogger } from '../server/log.js';
import { Metrics } from '../server/metrics.js';

const never = () => new Promise<never>(() => undefined);
const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (err: unknown) => (err instanceof AppError ? err.code : String(err)));

describe('circuit breakers', () => {
  it('a position flood that times out opens the locations circuit only; rides still go through', async () => {
    const metrics = new Metrics();
    const log = createLogger('silent', 'test');
    const requests = createBreaker(50, metrics, log, 'requests');
    const locations = createBreaker(50, metrics, log, 'locations');
    try {
      const slow = await Promise.all(Array.from({ length: 10 }, () => codeOf(locations.breaker(never))));
      expect(slow.every((c) => c === 'UNAVAILABLE'), slow.join()).to.equal(true);
      // Open now: the next report is refused at once, without running.
      let ran = false;
      expect(await codeOf(locations.breaker(() => { ran = true; return Promise.resolve(); }))).to.equal('UNAVAILABLE');
      expect(ran).to.equal(false);
      expect(await codeOf(requests.breaker(() => Promise.resolve('ride')))).to.equal('ok');
      // Business answers are passed through and never count as failures.
      expect(await codeOf(requests.breaker(() => Promise.reject(new AppError('ALREADY_DISPATCHED'))))).to.equal('ALREADY_DISPATCHED');
      const text = await metrics.registry.metrics();
      expect(text).to.contain('dispatch_redis_circuit_open{circuit="locations"} 1');
      expect(text).to.contain('dispatch_redis_circuit_open{circuit="requests"} 0');
    } finally {
      requests.shutdown();
      locations.shutdown();
    }
  });
});
