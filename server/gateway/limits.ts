/**
 * Per-user rate limits on events and REST, and a per-address cap on connection attempts, kept in
 * Redis so they hold across every gateway (rate-limiter-flexible). While Redis is unreachable a
 * per-process memory limiter stands in for it.
 */
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { Keys } from '../redis/keys.js';

export type LimitKind = 'event' | 'location' | 'connect';

export class Limits {
  private readonly limiters: Record<LimitKind, RateLimiterRedis | null>;

  constructor(redis: Redis, keys: Keys, config: Config) {
    const make = (name: LimitKind, points: number, duration: number) =>
      points > 0
        ? new RateLimiterRedis({
            storeClient: redis,
            keyPrefix: keys.rateLimit(name),
            points,
            duration,
            insuranceLimiter: new RateLimiterMemory({ points, duration }),
          })
        : null;
    this.limiters = {
      event: make('event', config.RATE_LIMIT_PER_S, 1),
      location: make('location', config.LOCATION_RATE_LIMIT_PER_S, 1),
      connect: make('connect', config.CONNECT_RATE_PER_IP, 10),
    };
  }

  /** Take one point for `key`; throws RATE_LIMITED when the budget is spent. */
  async take(kind: LimitKind, key: string): Promise<void> {
    const limiter = this.limiters[kind];
    if (!limiter) return;
    try {
      await limiter.consume(key);
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        throw new AppError('RATE_LIMITED', `too many ${kind === 'connect' ? 'connection attempts' : 'requests'}; retry in ${Math.ceil(err.msBeforeNext / 1000)} s`);
      }
      throw err;
    }
  }
}
