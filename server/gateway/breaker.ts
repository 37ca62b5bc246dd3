/**
 * The Redis circuit breakers in front of every action (opossum), run by the action pipeline
 * (pipeline.ts) around the rate limit and the action. A request that takes longer than
 * REDIS_TIMEOUT_MS, or any request while its circuit is open, is answered UNAVAILABLE at once
 * instead of hanging; business errors (AppError) never count as failures.
 *
 * Position reports have a circuit of their own: they are most of the traffic of a big fleet, and
 * when a starved event loop makes them time out, their breaker opens (a lost report costs nothing,
 * the next comes in seconds) without refusing ride requests and accepts.
 */
import CircuitBreaker from 'opossum';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import type { Metrics } from '../metrics.js';

/** Runs `work` through one circuit: its answer, or UNAVAILABLE when it is too slow or the circuit is open. */
export type Breaker = <T>(work: () => Promise<T>) => Promise<T>;

export type Circuit = 'requests' | 'locations';

export function createBreaker(timeoutMs: number, metrics: Metrics, log: Logger, circuit: Circuit = 'requests'): { breaker: Breaker; shutdown: () => void } {
  const opossum = new CircuitBreaker((work: () => Promise<unknown>) => work(), {
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
  const open = metrics.circuitOpen.labels({ circuit });
  opossum.on('open', () => {
    open.set(1);
    log.warn({ circuit }, 'redis circuit open: answering UNAVAILABLE until it recovers');
  });
  opossum.on('close', () => {
    open.set(0);
    log.info({ circuit }, 'redis circuit closed');
  });
  open.set(0);
  const run: Breaker = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return (await opossum.fire(work)) as T;
    } catch (err) {
      if (err instanceof AppError) throw err;
      const code = (err as { code?: unknown } | null)?.code;
      if (code === 'EOPENBREAKER' || code === 'ETIMEDOUT' || opossum.opened) throw new AppError('UNAVAILABLE');
      throw err;
    }
  };
  return { breaker: run, shutdown: () => opossum.shutdown() };
}
