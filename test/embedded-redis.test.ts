/** One-command start: with no Redis at the default address, a private redis-server is started. */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadConfig } from '../server/config.js';
import { ensureRedis } from '../server/embedded-redis.js';
import { freePort } from './support/env.js';

describe('embedded Redis', function () {
  this.timeout(30000);

  it('starts a private redis-server when nothing answers and REDIS_URL was not set', async () => {
    const dead = `redis://127.0.0.1:${await freePort()}`;
    const config = { ...loadConfig({}), REDIS_URL: dead };
    const handle = await ensureRedis(config, pino({ level: 'silent' }));
    try {
      expect(handle.url).to.not.equal(dead);
      const client = new Redis(handle.url);
      expect(await client.ping()).to.equal('PONG');
      expect(await client.config('GET', 'appendonly')).to.deep.equal(['appendonly', 'yes']);
      client.disconnect();
    } finally {
      await handle.stop();
    }
  });

  it('uses an explicitly set REDIS_URL as it is', async () => {
    const config = loadConfig({ REDIS_URL: 'redis://127.0.0.1:1' });
    const handle = await ensureRedis(config, pino({ level: 'silent' }));
    expect(handle.url).to.equal('redis://127.0.0.1:1');
  });
});
