/** What the actions of a process share: configuration, keys, Redis and its scripts, the queue, pushes. */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { DispatchQueue } from './dispatch/queue.js';
import type { Metrics } from './metrics.js';
import type { Notifier } from './notify/notifier.js';
import type { Keys } from './redis/keys.js';
import type { ScriptFn, ScriptName } from './redis/scripts.js';

export interface Context {
  config: Config;
  keys: Keys;
  redis: Redis;
  scripts: Record<ScriptName, ScriptFn>;
  queue: DispatchQueue;
  notify: Notifier;
  metrics: Metrics;
  log: Logger;
}

/**
 * Follow-up work that need not delay an answer (re-matching calls near freed drivers): run it in
 * the background and log a failure. Each such step is only a shortcut: call timers catch up.
 */
export function later(ctx: Pick<Context, 'log'>, work: Promise<unknown>, what: string): void {
  work.catch((err: unknown) => ctx.log.warn({ err }, `${what} failed`));
}

/** The current time, as epoch ms and as ISO-8601 (scripts record both). */
export function clock(): { ms: number; iso: string } {
  const ms = Date.now();
  return { ms, iso: new Date(ms).toISOString() };
}
