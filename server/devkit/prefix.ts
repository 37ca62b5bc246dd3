/**
 * Delete every key of one KEY_PREFIX: what a test, the bench or a developer leaves in a shared
 * Redis. Every key the product makes is `<prefix>:...`: its own (server/redis/keys.ts), BullMQ's
 * (the queue's prefix is KEY_PREFIX: `<prefix>:dispatch:...`) and the rate limiters'
 * (`<prefix>:rl:...`); the Socket.IO adapter's `<prefix>:sio...` are channels, not keys.
 *
 * So the pattern is `<prefix>:*` and nothing wider: `<prefix>*` would also take the keys of every
 * prefix that starts with this one (cleaning `b1s1` would empty `b1s10`). The prefix is matched
 * literally (glob characters in it are escaped). SCAN with COUNT walks the keyspace without blocking
 * Redis; keys go in batches with UNLINK (freed in the background). Stop the processes using the
 * prefix first: a running dispatcher writes its keys again.
 */
import type { Redis } from 'ioredis';

/** `prefix` as a SCAN MATCH pattern that matches only itself. */
export function literalPattern(prefix: string): string {
  return prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Delete every key under `<prefix>:`; resolves with how many were deleted. */
export async function cleanPrefix(redis: Redis, prefix: string, o: { count?: number; batch?: number } = {}): Promise<number> {
  if (!prefix) throw new Error('cleanPrefix: an empty prefix would match every key');
  const match = `${literalPattern(prefix)}:*`;
  const batch = o.batch ?? 500;
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', o.count ?? 1000);
    for (let i = 0; i < keys.length; i += batch) deleted += await redis.unlink(...keys.slice(i, i + batch));
    cursor = next;
  } while (cursor !== '0');
  return deleted;
}
