/** The sweep of call timers (server/dispatch/timers.ts) with real Redis and a real BullMQ queue, no worker. */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { startTimerSweep, type Sweeper } from '../server/dispatch/timers.js';
import { createDispatchQueue, type DispatchQueue } from '../server/jobs.js';
import { createLogger } from '../server/log.js';
import { makeKeys } from '../server/redis/keys.js';
import { loadConfig } from '../server/config.js';
import { makeCommands, matchSettings } from '../server/redis/commands.js';
import { randomPrefix, REDIS_URL } from './support/env.js';
import { until } from './support/wait.js';

describe('call timers', () => {
  const keys = makeKeys(randomPrefix());
  const log = createLogger('silent', 'test');
  let redis: Redis;
  let queue: DispatchQueue;
  const sweepers: Sweeper[] = [];
  /** A sweeper that only looks when the test asks (its own looks are an hour apart). */
  const sweeper = (leaseMs: number) => {
    const commands = makeCommands(redis, keys, matchSettings(loadConfig({})));
    const s = startTimerSweep({ commands, queue, log }, 3_600_000, leaseMs);
    sweepers.push(s);
    return s;
  };
  const jobIds = async () => (await queue.getJobs(['waiting', 'prioritized', 'delayed'])).map((j) => j.id as string).sort();

  beforeEach(async () => {
    await queue.obliterate({ force: true });
    await redis.del(keys.callTimers);
  });
  before(() => {
    redis = new Redis(REDIS_URL);
    queue = createDispatchQueue(redis, keys.prefix);
  });
  after(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    const left = await redis.keys(`${keys.prefix}:*`);
    if (left.length) await redis.del(...left);
    redis.disconnect();
  });
  afterEach(async () => {
    for (const s of sweepers.splice(0)) await s.stop();
  });

  it('two dispatchers sweeping at once turn each due timer into one job, and leave timers not yet due', async () => {
    const now = Date.now();
    const due = Array.from({ length: 40 }, (_, i) => ({ member: `call-${i}:${1 + (i % 3)}`, at: now - 1000 + i }));
    await redis.zadd(keys.callTimers, ...due.flatMap((t) => [t.at, t.member]), now + 60_000, 'call-later:1');
    const [a, b] = [sweeper(60_000), sweeper(60_000)];
    await Promise.all([a.sweep(), b.sweep(), a.sweep(), b.sweep()]);

    // One job per timer, named by the timer, its due time and when it was taken.
    const ids = await jobIds();
    expect(ids.map((id) => id.replace(/-\d+$/, '')).sort()).to.deep.equal(due.map((t) => `${t.member.replace(/:(\d+)$/, '-w$1')}-${t.at}`).sort());
    const job = (await queue.getJobs(['waiting', 'prioritized'])).find((j) => j.id?.startsWith('call-7-w2-'));
    expect(job?.name).to.equal('wave');
    expect(job?.data).to.deep.equal({ callId: 'call-7', wave: 2 });
    // Taken, not removed: each is leased until its run consumes it.
    const left = await redis.zrange(keys.callTimers, 0, -1, 'WITHSCORES');
    expect(left.length / 2).to.equal(41);
    expect(Number(await redis.zscore(keys.callTimers, 'call-0:1'))).to.be.greaterThan(now + 50_000);
  });

  it('a timer whose run never consumed it (its job failed for good) comes due again after its lease, as a new job', async () => {
    await redis.zadd(keys.callTimers, Date.now() - 1, 'call-x:4');
    const s = sweeper(300);
    // Its first look (at start) or this one takes it.
    const taken = async () => {
      await s.sweep();
      return (await jobIds()).length === 1;
    };
    await until(taken, 'the due timer to become a job', 5000, 20);
    const [first] = await jobIds();
    expect(first).to.match(/^call-x-w4-\d+-\d+$/);
    await queue.obliterate({ force: true }); // the job is gone without running the step
    await until(taken, 'the lease to end and the timer to be taken again', 5000, 50);
    const [second] = await jobIds();
    expect(second).to.match(/^call-x-w4-\d+-\d+$/).and.not.equal(first);
  });
});
