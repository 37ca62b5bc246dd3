/** The dispatcher's BullMQ worker: runs matching (rounds, greedy matches) and every timer (a call's wave end or deadline, a driver's grace). */
import { Worker, type Job } from 'bullmq';
import { follow, type Context } from '../context.js';
import type { DispatchJob, JobData } from '../jobs.js';
import { blockingConnection } from '../redis/connect.js';
import { QUEUE } from '../redis/keys.js';
import { clock } from '../context.js';
import { matchCall, runRound } from './round.js';

export function createWorker(ctx: Context): Worker<JobData> {
  const { config, log, metrics } = ctx;
  const connection = blockingConnection(config.REDIS_URL, `${config.KEY_PREFIX}:worker`, log, metrics);
  const worker = new Worker<JobData>(QUEUE.dispatch, (job) => handle(ctx, job as unknown as Job & DispatchJob), {
    connection,
    prefix: config.KEY_PREFIX,
    concurrency: config.DISPATCH_CONCURRENCY,
    lockDuration: config.JOB_LOCK_MS,
    stalledInterval: config.JOB_LOCK_MS,
  });
  worker.on('failed', (job, err) => log.warn({ err, job: job?.id }, 'dispatch job failed'));
  worker.on('error', (err) => log.warn({ err }, 'dispatch worker error'));
  worker.on('stalled', (jobId) => {
    metrics.stalledJobs.inc();
    log.warn({ job: jobId }, 'dispatch job stalled (its worker died): re-running it');
  });
  worker.on('closed', () => connection.disconnect());
  return worker;
}

/** Every handler is safe to run twice (BullMQ delivers at least once). */
async function handle(ctx: Context, job: DispatchJob & { attemptsStarted: number; id?: string }): Promise<unknown> {
  const rerun = job.attemptsStarted > 1;
  switch (job.name) {
    case 'round':
      return runRound(ctx, job.data.region, job.id ?? '', rerun);
    case 'match':
      return matchCall(ctx, job.data.callId, rerun);
    case 'rematch':
      return rematch(ctx, job.data.callId, rerun);
    case 'wave':
      return waveEnd(ctx, job.data.callId, job.data.wave, rerun);
    case 'grace':
      return graceOver(ctx, job.data.driverId, job.data.awaySince);
  }
}

/** Match a call again now: greedy on its own; batched through its region's next round. */
async function rematch(ctx: Context, callId: string, rerun: boolean): Promise<string> {
  if (ctx.config.MATCH_STRATEGY === 'greedy') return matchCall(ctx, callId, rerun);
  const r = await ctx.commands.ready({ callId, now: Date.now() });
  await follow(ctx, r.effects);
  return r.outcome;
}

/** A call's timer ran: its wave is over (the next one), or its deadline came (unfulfilled). */
async function waveEnd(ctx: Context, callId: string, fence: number, rerun: boolean): Promise<string> {
  const r = await ctx.commands.waveEnd({ callId, now: clock(), fence });
  await follow(ctx, r.effects);
  if (r.outcome === 'unfulfilled') ctx.log.info({ callId, status: r.call.status }, 'call unfulfilled');
  if (r.outcome === 'ready' && ctx.config.MATCH_STRATEGY === 'greedy') return matchCall(ctx, callId, rerun);
  return r.outcome;
}

async function graceOver(ctx: Context, driverId: string, awaySince: string): Promise<string> {
  const r = await ctx.commands.driverOffline({ driverId, now: Date.now(), awaySince });
  if (r.outcome !== 'offline') return r.outcome === 'after-trip' ? 'offline-after-trip' : 'came-back';
  await follow(ctx, r.effects);
  ctx.log.info({ driverId }, 'driver offline after grace period');
  return 'offline';
}
