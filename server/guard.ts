/**
 * The circuit breaker in front of every request that needs Redis (opossum). A request that takes
 * longer than REDIS_TIMEOUT_MS, or any request while the circuit is open, is answered UNAVAILABLE
 * at once instead of hanging; business errors (AppError) never count as failures.
 */
import CircuitBreaker from 'opossum';
import type { Logger } from 'pino';
import { AppError } from './errors.js';
import type { Metrics } from './metrics.js';

export type Guard = <T>(work: () => Promise<T>) => Promise<T>;

export function createGuard(timeoutMs: number, metrics: Metrics, log: Logger): { guard: Guard; shutdown: () => void } {
  const breaker = new CircuitBreaker((work: () => Promise<unknown>) => work(), {
    timeout: timeoutMs,
    errorThresholdPercentage: 50,
    volumeThreshold: 5,
    resetTimeout: 2000,
    // Nothing reads latency percentiles, and computing them sorts the whole window on every
    // failure: milliseconds per request exactly when Redis is slow (an overload became a collapse).
    rollingPercentilesEnabled: false,
    // A business answer (ALREADY_DISPATCHED, VALIDATION_FAILED, …) says nothing about Redis.
    errorFilter: (err: unknown) => err instanceof AppError,
  });
  breaker.on('open', () => {
    metrics.circuitOpen.set(1);
    log.warn('redis circuit open: answering UNAVAILABLE until it recovers');
  });
  breaker.on('close', () => {
    metrics.circuitOpen.set(0);
    log.info('redis circuit closed');
  });
  metrics.circuitOpen.set(0);
  const guard: Guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return (await breaker.fire(work)) as T;
    } catch (err) {
      if (err instanceof AppError) throw err;
      const code = (err as { code?: unknown } | null)?.code;
      if (code === 'EOPENBREAKER' || code === 'ETIMEDOUT' || breaker.opened) throw new AppError('UNAVAILABLE');
      throw err;
    }
  };
  return { guard, shutdown: () => breaker.shutdown() };
}
