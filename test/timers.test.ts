/** The sweep of wave timers (server/dispatch/timers.ts) with real Redis and a real BullMQ queue, no worker. */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { createDispatchQueue, type DispatchQueue } from '../server/dispatch/queue.js';
import { startWaveSweep, type Sweeper } from '../server/dispatch/timers.js';
import { createLogger } from '../server/log.js';
import { makeKeys } from '../server/redis/keys.js';
import { randomPrefix, REDIS_URL } from './support/env.js';

describe('wave timers', () => {
  const keys = makeKeys(randomPrefix());
  let redis: Redis;
  let queue: DispatchQueue;
  let sweepers: Sweeper[] = [];

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

  it('two dispatchers sweeping at once turn each ended wave into one job, and leave waves not yet ended', async () => {
    const now = Date.now();
    const ended = Array.from({ length: 40 }, (_, i) => `call-${i}:${1 + (i % 3)}`);
    await redis.zadd(keys.waveTimers, ...ended.flatMap((m, i) => [now - 1000 + i, m]), now + 60_000, 'call-later:1');
    // Started stopped (a look far in the future), so the test drives the looks itself.
    const log = createLogger('silent', 'test');
    sweepers = [startWaveSweep(redis, keys, queue, log, 60_000), startWaveSweep(redis, keys, queue, log, 60_000)];
    await Promise.all(sweepers.map((s) => s.sweep()));
    await Promise.all(sweepers.map((s) => s.sweep()));

    const jobs = await queue.getJobs(['waiting', 'prioritized', 'delayed']);
    expect(jobs.map((j) => j.id).sort()).to.deep.equal(ended.map((m) => m.replace(/:(\d+)$/, '-w$1')).sort());
    expect(jobs.every((j) => j.name === 'wave')).to.equal(true);
    expect(jobs.find((j) => j.id === 'call-7-w2')?.data).to.deep.equal({ callId: 'call-7', wave: 2 });
    expect(await redis.zrange(keys.waveTimers, 0, -1)).to.deep.equal(['call-later:1']);
  });
});
