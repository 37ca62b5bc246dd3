/** What the actions of a process share: configuration, keys, Redis and its commands, the queue, pushes. */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { LedgerReads } from './ledger/store.js';
import { applyEffects, type Effects } from './effects.js';
import type { DispatchQueue } from './jobs.js';
import type { Metrics } from './metrics.js';
import type { Notifier } from './notify/notifier.js';
import type { Commands } from './redis/commands.js';
import type { Keys } from './redis/keys.js';

export interface Context {
  config: Config;
  keys: Keys;
  redis: Redis;
  commands: Commands;
  queue: DispatchQueue;
  notify: Notifier;
  metrics: Metrics;
  log: Logger;
  /** The ledger, where this process can read it (PostgreSQL, or SQLite in a process that writes it). */
  ledger?: LedgerReads | undefined;
}

/** Carry out what a command says must follow it (server/effects.ts). */
export function follow(ctx: Context, effects: Effects): Promise<void> {
  return applyEffects(
    {
      notify: ctx.notify, queue: ctx.queue, commands: ctx.commands, log: ctx.log, windowMs: ctx.config.MATCH_WINDOW_MS,
      strategy: ctx.config.MATCH_STRATEGY,
      onRevoked: (reason, n) => ctx.metrics.offersRevoked.inc({ reason }, n),
    },
    effects,
  );
}

/** The current time, as epoch ms and as ISO-8601 (scripts record both). */
export function clock(): { ms: number; iso: string } {
  const ms = Date.now();
  return { ms, iso: new Date(ms).toISOString() };
}
