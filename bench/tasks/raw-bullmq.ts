/**
 * Raw BullMQ baseline: a plain queue (the product's job options) and a plain worker (the product's
 * concurrency) in two processes, as a gateway and a dispatcher are; measured from `add` to the
 * processor starting. Both processes stamp times as performance.timeOrigin + performance.now(),
 * a sub-millisecond wall clock of the one machine.
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Latency, type Percentiles } from '../../clients/cli/report.js';
import type { TaskContext } from '../lib/ipc.js';
import { drive, type Mode, type OpSummary } from '../lib/pace.js';

export const RAW_QUEUE = 'rawq';
const JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 200 },
  removeOnComplete: { age: 3600, count: 10000 },
  removeOnFail: { age: 24 * 3600 },
};

const now = () => performance.timeOrigin + performance.now();

export interface ProduceArgs {
  redisUrl: string;
  prefix: string;
  mode: Mode;
}

/** Add jobs (at a rate, or flat out): the add side's own latency and rate. */
export async function rawBullmqProduce(a: ProduceArgs, ctx: TaskContext): Promise<OpSummary> {
  const connection = new Redis(a.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(RAW_QUEUE, { connection, prefix: a.prefix, defaultJobOptions: JOB_OPTIONS });
  try {
    await queue.waitUntilReady();
    let n = 0;
    return await drive(a.mode, async () => {
      const t = now();
      await queue.add('match', { t, n: n++ }, { jobId: `j${n}-${Math.random().toString(36).slice(2, 8)}` });
      return now() - t;
    }, ctx.signal);
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

export interface ConsumeArgs {
  redisUrl: string;
  prefix: string;
  concurrency: number;
}

export interface ConsumeResult {
  processed: number;
  /** Jobs processed per second between the first and the last. */
  perS: number;
  /** add → processor start. */
  latencyMs: Percentiles;
}

/** Process jobs until told to stop (then drain what is left, bounded): 'ready' once listening. */
export async function rawBullmqConsume(a: ConsumeArgs, ctx: TaskContext): Promise<ConsumeResult> {
  const lat = new Latency();
  let processed = 0;
  let first = 0;
  let last = 0;
  const connection = new Redis(a.redisUrl, { maxRetriesPerRequest: null });
  const queueConn = new Redis(a.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(RAW_QUEUE, { connection: queueConn, prefix: a.prefix });
  const worker = new Worker(RAW_QUEUE, (job) => {
    const at = now();
    lat.record(at - (job.data as { t: number }).t);
    if (processed++ === 0) first = at;
    last = at;
    return Promise.resolve(null);
  }, { connection, prefix: a.prefix, concurrency: a.concurrency });
  worker.on('error', () => undefined);
  try {
    await worker.waitUntilReady();
    ctx.emit('ready');
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const c = await queue.getJobCounts('waiting', 'active', 'prioritized');
      if ((c.waiting ?? 0) + (c.active ?? 0) + (c.prioritized ?? 0) === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const spanS = Math.max((last - first) / 1000, 1e-3);
    return { processed, perS: Math.round(processed / spanS), latencyMs: lat.summary() };
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    connection.disconnect();
    queueConn.disconnect();
  }
}
