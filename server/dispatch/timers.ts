/**
 * The sweep of wave timers. offer-6.lua sets each wave's timer in a Redis sorted set in the same
 * step as the wave (member `callId:wave`, score its end) and the accept removes it, so the common
 * call (won in its first wave) costs no timer job at all. Every dispatcher sweeps the set: waves
 * that ended become `wave` jobs (job id per wave, so sweeps of several dispatchers add each once),
 * and only then leave the set, so a dispatcher that dies mid-sweep loses nothing; the job's handler
 * is fenced by the wave number, so a wave timer that runs twice never moves a newer wave.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Keys } from '../redis/keys.js';
import { enqueueWaves, type DispatchQueue } from './queue.js';

/** How often a dispatcher looks for ended waves: a wave moves on at most this late. */
export const SWEEP_MS = 100;
/** Ended waves taken per look (more are taken at once by the next look). */
const BATCH = 500;

export interface Sweeper {
  /** One look: the number of ended waves handed to the queue. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

export function startWaveSweep(redis: Redis, keys: Keys, queue: DispatchQueue, log: Logger, everyMs = SWEEP_MS): Sweeper {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let failing = false;

  async function sweep(): Promise<number> {
    const due = await redis.zrangebyscore(keys.waveTimers, '-inf', Date.now(), 'LIMIT', 0, BATCH);
    if (due.length === 0) return 0;
    const waves = due.flatMap((member) => {
      const at = member.lastIndexOf(':');
      const wave = Number(member.slice(at + 1));
      return at > 0 && Number.isInteger(wave) ? [{ callId: member.slice(0, at), wave }] : [];
    });
    await enqueueWaves(queue, waves);
    await redis.zrem(keys.waveTimers, ...due);
    return due.length;
  }

  const loop = () => {
    if (stopped) return;
    running = sweep().then(
      (n) => {
        if (failing) log.info('wave timers swept again');
        failing = false;
        return n;
      },
      (err: unknown) => {
        // Redis is away: the timers wait in Redis; say so once, not every look.
        if (!failing) log.warn({ err }, 'sweeping wave timers failed; retrying');
        failing = true;
        return 0;
      },
    ).then((n) => {
      if (!stopped) timer = setTimeout(loop, n === BATCH ? 0 : everyMs);
    });
  };
  timer = setTimeout(loop, 0);

  return {
    sweep,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
