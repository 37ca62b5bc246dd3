/** The dispatcher's BullMQ worker: runs matching steps and every timer (a call's wave end or deadline, a driver's grace). */
import { Worker, type Job } from 'bullmq';
import { follow, type Context } from '../context.js';
import type { DispatchJob, JobData } from '../jobs.js';
import { blockingConnection } from '../redis/connect.js';
import { QUEUE } from '../redis/keys.js';
import { runMatch } from './matcher.js';

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
async function handle(ctx: Context, job: DispatchJob & { attemptsStarted: number }): Promise<unknown> {
  const rerun = job.attemptsStarted > 1;
  switch (job.name) {
    case 'match':
    case 'rematch':
      return runMatch(ctx, job.data.callId, undefined, rerun);
    case 'wave':
      return runMatch(ctx, job.data.callId, job.data.wave, rerun);
    case 'grace':
      return graceOver(ctx, job.data.driverId, job.data.awaySince);
  }
}

async function graceOver(ctx: Context, driverId: string, awaySince: string): Promise<string> {
  const r = await ctx.commands.driverOffline({ driverId, now: Date.now(), awaySince });
  if (r.outcome !== 'offline') return r.outcome === 'after-trip' ? 'offline-after-trip' : 'came-back';
  await follow(ctx, r.effects);
  ctx.log.info({ driverId }, 'driver offline after grace period');
  return 'offline';
}
