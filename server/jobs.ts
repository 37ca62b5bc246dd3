/**
 * The BullMQ queue of dispatch work: the one interface between the roles (gateways and dispatchers
 * both add jobs; dispatchers run them, server/dispatch/worker.ts). No timer lives in a process, so a restart forgets nothing: a
 * call's timer is in Redis (see timers.ts) and becomes a job when due; a driver's grace is a delayed
 * job. Job ids make re-adding safe:
 *   round    {region}              id round-<region>-<random>  a matching round of a region (batched;
 *                                                       server/dispatch/round.ts): fenced by the region's lease
 *   match    {callId}              id callId            the first matching of a new call (greedy)
 *   rematch  {callId}              id callId-r-<random> match again now (a wave ended early, a driver freed)
 *   wave     {callId, wave}        id callId-w<wave>-<due>-<taken>  a call timer is due: the wave's offers
 *                                                       are over (next wave), or the deadline (unfulfilled)
 *   grace    {driverId, awaySince} id grace-<driver>-<awaySince>  a disconnected driver goes offline
 * Each handler acts through a script that checks a fencing token (wave, awaySince), so a late,
 * duplicated or re-run job never moves newer state.
 */
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUE } from './redis/keys.js';

/**
 * How long a taken call timer waits for its run to consume it before it comes due again (the
 * sweep's lease, server/dispatch/timers.ts); a new call's safety timer is due after one lease.
 */
export const TIMER_LEASE_MS = 30_000;
/** A round not committed this long after it began is presumed dead: its lease ends (round-begin.lua). */
export const ROUND_LEASE_MS = 5_000;
/**
 * A scheduled region nobody ran is run by the sweep after this long (a lost job, a dead round):
 * past a round's lease, and past the gathering window its job waits out.
 */
export function regionRescueMs(windowMs: number): number {
  return ROUND_LEASE_MS + 1_000 + windowMs;
}

export type DispatchJob =
  | { name: 'round'; data: { region: string } }
  | { name: 'match' | 'rematch'; data: { callId: string } }
  | { name: 'wave'; data: { callId: string; wave: number } }
  | { name: 'grace'; data: { driverId: string; awaySince: string } };

export type JobData = DispatchJob['data'];
export type DispatchQueue = Queue<JobData>;

export function createDispatchQueue(connection: Redis, prefix: string): DispatchQueue {
  return new Queue<JobData>(QUEUE.dispatch, {
    connection,
    prefix,
    defaultJobOptions: {
      attempts: 5,
      backoff: { type: 'exponential', delay: 200 },
      removeOnComplete: { age: 3600, count: 10000 },
      removeOnFail: { age: 24 * 3600 },
    },
  });
}

/** Queue a new call for matching; its job id is the call id, so it is never queued twice. */
export async function enqueueMatch(queue: DispatchQueue, callId: string): Promise<void> {
  await queue.add('match', { callId }, { jobId: callId });
}

/** Queue a region's round (after `delayMs`: the gathering window). Ids are new each time: BullMQ drops an add whose id exists. */
export async function enqueueRound(queue: DispatchQueue, region: string, delayMs = 0): Promise<void> {
  await queue.add('round', { region }, { jobId: `round-${region}-${randomBytes(6).toString('hex')}`, delay: delayMs });
}

/** Regions the sweep found nobody ran. */
export async function enqueueRounds(queue: DispatchQueue, regions: string[]): Promise<void> {
  if (regions.length === 0) return;
  await queue.addBulk(regions.map((region) => ({ name: 'round', data: { region }, opts: { jobId: `round-${region}-${randomBytes(6).toString('hex')}` } })));
}

/** Match these calls again now. */
export async function enqueueRematch(queue: DispatchQueue, callIds: string[]): Promise<void> {
  if (callIds.length === 0) return;
  await queue.addBulk(
    callIds.map((callId) => ({ name: 'rematch', data: { callId }, opts: { jobId: `${callId}-r-${randomBytes(6).toString('hex')}` } })),
  );
}

/** Call timers that are due (from the sweep), each under the id of its lease. */
export async function enqueueTimers(queue: DispatchQueue, runs: { callId: string; wave: number; run: string }[]): Promise<void> {
  if (runs.length === 0) return;
  await queue.addBulk(
    runs.map(({ callId, wave, run }) => ({ name: 'wave', data: { callId, wave }, opts: { jobId: `${callId}-w${wave}-${run}` } })),
  );
}

export async function scheduleGrace(queue: DispatchQueue, driverId: string, awaySince: string, delayMs: number): Promise<void> {
  await queue.add('grace', { driverId, awaySince }, { jobId: `grace-${driverId}-${awaySince}`, delay: Math.max(0, delayMs) });
}
