/**
 * The sweep of call timers. Every open call that has been matched once has one timer in a Redis
 * sorted set (member `callId:wave`, score when due: its wave's end or its deadline), written by the
 * scripts in the same step as the state it guards (offer.lua; a safety timer from request.lua,
 * a due-now one from trip-cancel.lua) and dropped by the accept and the cancel. So a call won in
 * its first wave costs no timer job at all.
 *
 * Every dispatcher sweeps the set: due timers are leased (the dueTimers command gives each to one
 * sweeper and pushes it back by TIMER_LEASE_MS) and become `wave` jobs, one per lease. Only the fenced
 * matching step consumes a timer; a run that never happens (a job that failed for good, a sweeper
 * that died before queueing it) comes due again when its lease ends. The step is fenced by the wave
 * number, so a timer that runs twice never moves a newer wave.
 *
 * The same look takes the scheduled regions whose time has come (a region whose round job was lost,
 * or whose round died): they are leased the same way (due-regions.lua) and become `round` jobs.
 */
import type { Logger } from 'pino';
import { enqueueRounds, enqueueTimers, regionRescueMs, TIMER_LEASE_MS, type DispatchQueue } from '../jobs.js';
import type { Commands } from '../redis/commands.js';
import { repeat } from '../repeat.js';

/** How often a dispatcher looks for due timers: a wave moves on at most this late. */
export const SWEEP_MS = 100;
/** Timers taken per look (more are taken at once by the next look). */
const BATCH = 500;

export interface Sweeper {
  /** One look: the number of due timers handed to the queue. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

type SweepDeps = { commands: Pick<Commands, 'dueTimers' | 'dueRegions'>; queue: DispatchQueue; log: Logger; config?: { MATCH_WINDOW_MS: number } };

export function startTimerSweep(d: SweepDeps, everyMs = SWEEP_MS, leaseMs = TIMER_LEASE_MS): Sweeper {
  async function sweep(): Promise<number> {
    const now = Date.now();
    const due = await d.commands.dueTimers({ now, leaseMs, max: BATCH });
    const runs: { callId: string; wave: number; run: string }[] = [];
    for (const { member, dueMs } of due) {
      const at = member.lastIndexOf(':');
      const wave = Number(member.slice(at + 1));
      // The lease makes this sweeper the only taker: the time taken makes the job id new even when a
      // run put the timer back at the same score (a clock behind the sweeper's).
      if (at > 0 && Number.isInteger(wave)) runs.push({ callId: member.slice(0, at), wave, run: `${dueMs}-${now}` });
    }
    await enqueueTimers(d.queue, runs);
    const regions = await d.commands.dueRegions({ now, leaseMs: regionRescueMs(d.config?.MATCH_WINDOW_MS ?? 0), max: BATCH });
    await enqueueRounds(d.queue, regions);
    return Math.max(due.length, regions.length);
  }

  // Redis away: the timers wait in Redis; the failure is said once, not at every look.
  const looking = repeat({ look: async () => (await sweep()) === BATCH, everyMs, firstInMs: 0, log: d.log, what: 'sweeping call timers' });

  return { sweep, stop: () => looking.stop() };
}
