/** Start-up check of the Redis settings BullMQ's production guide asks for; warns, never stops. */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

export async function checkRedisSettings(redis: Redis, log: Logger): Promise<string[]> {
  const problems: string[] = [];
  try {
    const [, aof] = (await redis.config('GET', 'appendonly')) as [string, string];
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    if (aof !== 'yes') problems.push('appendonly is not "yes": a Redis restart loses calls and queued jobs (set appendonly yes, appendfsync everysec)');
    if (policy !== 'noeviction') problems.push(`maxmemory-policy is "${policy}": Redis may evict keys of calls and jobs (set noeviction)`);
  } catch {
    problems.push('could not read the Redis configuration (CONFIG GET refused?): make sure it has appendonly yes and maxmemory-policy noeviction');
  }
  for (const p of problems) log.warn(`redis settings: ${p}`);
  return problems;
}
