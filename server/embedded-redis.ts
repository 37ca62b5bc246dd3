/**
 * One-command start: when REDIS_URL was not set and nothing answers at the default address,
 * start a private `redis-server` with its data under ./data, and stop it on exit.
 *
 * The private redis-server never outlives this process: the dev kit runs it under
 * redis-watchdog.js (server/devkit/redis.ts, `watchdog`), in a process group of its own (so a
 * Ctrl-C at the terminal reaches only the server, which stops Redis after it has drained), and the
 * watchdog stops it when this process stops it, exits, or dies in any way, kill -9 included: the
 * watchdog's stdin is a pipe from this process, which the kernel closes when this process is gone.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { redisAnswers, redisServerInstalled, startRedis } from './devkit/redis.js';

export interface RedisHandle {
  url: string;
  stop(): Promise<void>;
}

export async function ensureRedis(config: Config, log: Logger): Promise<RedisHandle> {
  if (config.redisUrlExplicit || !config.EMBEDDED_REDIS) return { url: config.REDIS_URL, stop: () => Promise.resolve() };
  // The default address, or the test seam EMBEDDED_REDIS_PROBE_URL in its place.
  const probe = config.EMBEDDED_REDIS_PROBE_URL ?? config.REDIS_URL;
  if (await redisAnswers(probe)) return { url: probe, stop: () => Promise.resolve() };
  if (!redisServerInstalled()) {
    throw new Error(
      `nothing answers at ${probe} and no redis-server binary was found.\n` +
        'Install Redis 7 (e.g. `apt-get install redis-server`, `brew install redis`, or `docker run -p 6379:6379 redis:7`), or set REDIS_URL.',
    );
  }
  const dir = resolve('data', 'redis');
  mkdirSync(dir, { recursive: true });
  const redis = await startRedis({ dir, appendfsync: 'everysec', watchdog: true }).catch((err: unknown) => {
    throw new Error(`the private redis-server did not start: ${err instanceof Error ? err.message : String(err)}`);
  });
  log.warn({ url: redis.url, dir }, `nothing answered at ${probe}: started a private redis-server (data in ./data/redis); set REDIS_URL to use your own`);
  return { url: redis.url, stop: () => redis.stop() };
}
