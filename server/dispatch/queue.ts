/**
 * The BullMQ queue of dispatch work. Every timer lives here as a delayed job, never as an
 * in-process setTimeout, so a restart forgets nothing. Job ids make re-adding safe:
 *   match    {callId}              id callId            the first matching of a new call
 *   rematch  {callId}              id callId-r-<random> match again now (a wave ended early, a driver freed)
 *   wave     {callId, wave}        id callId-w<wave>    the wave's offers are over: next wave
 *                                                       (added when the wave ends, by the sweep of the
 *                                                       wave timers in Redis: see timers.ts)
 *   timeout  {callId, gen}         id callId-t<gen>     no accept by the call's deadline: unfulfilled
 *                                                       (added only when no wave timer comes before the deadline)
 *   grace    {driverId, awaySince} id grace-<driver>-<awaySince>  a disconnected driver goes offline
 * Each handler acts through a script that checks a fencing token (wave, gen, awaySince), so a late,
 * duplicated or re-run job never moves newer state.
 */
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUE } from '../redis/keys.js';

export type DispatchJob =
  | { name: 'match' | 'rematch'; data: { callId: string } }
  | { name: 'wave'; data: { callId: string; wave: number } }
  | { name: 'timeout'; data: { callId: string; gen: number } }
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

/** Match these calls again now. */
export async function enqueueRematch(queue: DispatchQueue, callIds: string[]): Promise<void> {
  if (callIds.length === 0) return;
  await queue.addBulk(
    callIds.map((callId) => ({ name: 'rematch', data: { callId }, opts: { jobId: `${callId}-r-${randomBytes(6).toString('hex')}` } })),
  );
}

/** Waves that ended: their timers run now, each at most once (the job id is the wave's). */
export async function enqueueWaves(queue: DispatchQueue, waves: { callId: string; wave: number }[]): Promise<void> {
  if (waves.length === 0) return;
  await queue.addBulk(waves.map((data) => ({ name: 'wave', data, opts: { jobId: `${data.callId}-w${data.wave}` } })));
}

export async function scheduleTimeout(queue: DispatchQueue, callId: string, gen: number, delayMs: number): Promise<void> {
  await queue.add('timeout', { callId, gen }, { jobId: `${callId}-t${gen}`, delay: Math.max(0, delayMs) });
}

export async function scheduleGrace(queue: DispatchQueue, driverId: string, awaySince: string, delayMs: number): Promise<void> {
  await queue.add('grace', { driverId, awaySince }, { jobId: `grace-${driverId}-${awaySince}`, delay: Math.max(0, delayMs) });
}
