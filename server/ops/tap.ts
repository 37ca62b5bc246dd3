/**
 * The operator feed's call tap, in every process that pushes call changes (gateways and
 * dispatchers): each changed call's JSON is PUBLISHed on `P:ops:calls`, but only while someone
 * watches, that is while `P:ops:watched` exists (each gateway with joined admins refreshes it,
 * server/ops/feed.ts). Whether it exists is read at most once a second per process; nobody
 * watching costs one EXISTS a second, at most, while calls change.
 */
import type { Redis } from 'ioredis';
import type { Call } from '../../protocol/index.js';
import type { Keys } from '../redis/keys.js';

/** How long a process trusts what it read of `P:ops:watched`. */
export const WATCHED_CHECK_MS = 1000;

export function createOpsTap(redis: Redis, keys: Pick<Keys, 'opsWatched' | 'opsCalls'>): (call: Call) => void {
  let checkedAt = -Infinity;
  let watched: Promise<boolean> = Promise.resolve(false);
  return (call) => {
    const now = Date.now();
    if (now - checkedAt >= WATCHED_CHECK_MS) {
      checkedAt = now;
      watched = redis.exists(keys.opsWatched).then((n) => n > 0, () => false);
    }
    // Published in the order of the changes: each waits for the same (cached) answer.
    void watched.then((yes) => (yes ? redis.publish(keys.opsCalls, JSON.stringify(call)) : 0)).catch(() => undefined);
  };
}
