/**
 * The dev kit (server/devkit/) with real parts: child processes (lines, exit, a stop that escalates
 * to SIGKILL), ports, a private redis-server killed and started again, the server's readiness wait
 * and its failures, and the prefix cleanup, which deletes every key of a prefix, BullMQ's included,
 * and nothing of a longer prefix or of one spelt with glob characters.
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { expect } from 'chai';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { alive, spawnNode } from '../server/devkit/child.js';
import { cleanPrefix } from '../server/devkit/prefix.js';
import { freePort, portFree } from '../server/devkit/ports.js';
import { redisAnswers, startRedis } from '../server/devkit/redis.js';
import { spawnServer, startServer, waitReady } from '../server/devkit/server.js';
import { GiveUp, until } from '../server/devkit/wait.js';
import { QUEUE } from '../server/redis/keys.js';
import { randomPrefix, REDIS_URL, testEnv } from './support/env.js';

describe('dev kit', function () {
  this.timeout(60000);

  describe('child processes and ports', () => {
    it('collects stdout lines (the last one without a newline too) and the exit', async () => {
      const p = spawnNode(['-e', 'console.log("one"); console.error("two"); process.stdout.write("three"); process.exitCode = 3']);
      expect(await p.line((l) => l === 'one', 'the first line')).to.equal('one');
      expect(await p.exit()).to.deep.equal({ code: 3, signal: null });
      expect(p.stdout).to.deep.equal(['one', 'three']);
      expect(p.output()).to.contain('two');
    });

    it('fails a wait for a line at once when the process exits first, naming what it waited for', async () => {
      const p = spawnNode(['-e', 'console.log("nothing useful")'], { name: 'the quiet child' });
      const err = await p.line((l) => l === 'ready', 'the ready line', 60000).catch((e: unknown) => e as Error);
      expect(err).to.be.instanceOf(Error);
      expect((err as Error).message).to.match(/^the quiet child exited \(0\) before the ready line/).and.contain('nothing useful');
    });

    it('stops with SIGTERM, and with SIGKILL when SIGTERM is ignored', async () => {
      const polite = spawnNode(['-e', 'console.log("up"); setInterval(() => undefined, 1000)']);
      await polite.line((l) => l === 'up', 'up');
      expect(await polite.stop()).to.deep.equal({ code: null, signal: 'SIGTERM', forced: false });

      const stubborn = spawnNode(['-e', 'process.on("SIGTERM", () => console.log("ignored")); console.log("up"); setInterval(() => undefined, 1000)']);
      await stubborn.line((l) => l === 'up', 'up');
      expect(await stubborn.stop(300)).to.deep.equal({ code: null, signal: 'SIGKILL', forced: true });
      expect(stubborn.stdout).to.include('ignored');
      expect(alive(stubborn.pid)).to.equal(false);
    });

    it('finds a free port, and sees a taken one', async () => {
      const port = await freePort();
      expect(await portFree(port)).to.equal(true);
      const s = createServer().listen(port);
      await once(s, 'listening');
      try {
        expect(await portFree(port)).to.equal(false);
      } finally {
        s.close();
      }
    });

    it('until: a GiveUp from the check ends the wait at once', async () => {
      let calls = 0;
      const err = await until(() => {
        if (++calls === 2) throw new GiveUp('gone');
        return false;
      }, 'never', 60000, 1).catch((e: unknown) => e as Error);
      expect(err).to.be.instanceOf(GiveUp);
      expect(calls).to.equal(2);
    });
  });

  describe('a private redis-server', () => {
    it('answers PING with the asked settings, keeps its AOF through a kill, comes back on the same port, and stop removes its folder', async () => {
      const redis = await startRedis({ appendfsync: 'always' });
      try {
        expect(await redisAnswers(redis.url)).to.equal(true);
        expect(alive(redis.pid)).to.equal(true);
        expect(redis.version).to.match(/^\d+\.\d+/);
        const c = new Redis(redis.url, { maxRetriesPerRequest: 0 });
        c.on('error', () => undefined);
        expect(await c.config('GET', 'appendfsync')).to.deep.equal(['appendfsync', 'always']);
        expect(await c.config('GET', 'maxmemory-policy')).to.deep.equal(['maxmemory-policy', 'noeviction']);
        await c.set('kept', 'yes');
        c.disconnect();

        const first = redis.pid;
        await redis.kill();
        expect(alive(first)).to.equal(false);
        expect(await redisAnswers(redis.url)).to.equal(false);

        await redis.up();
        expect(redis.pid).to.not.equal(first);
        const again = new Redis(redis.url, { maxRetriesPerRequest: 0 });
        expect(await again.get('kept')).to.equal('yes');
        again.disconnect();
      } finally {
        await redis.stop();
      }
      expect(redis.running()).to.equal(false);
      expect(existsSync(redis.dir)).to.equal(false);
    });

    it('under the watchdog: the pid is redis-server\'s own, and stop stops both', async () => {
      const redis = await startRedis({ watchdog: true });
      expect(redis.pid).to.not.equal(redis.child().pid);
      await redis.stop();
      expect(alive(redis.pid)).to.equal(false);
      expect(alive(redis.child().pid)).to.equal(false);
    });

    it('fails naming the port when it is taken, never taking whatever answers there for its own', async () => {
      const taken = await startRedis();
      try {
        const err = await startRedis({ port: taken.port }).catch((e: unknown) => e as Error);
        expect(err).to.be.instanceOf(Error);
        expect((err as Error).message).to.contain(`port ${taken.port}: the port is in use`);
      } finally {
        await taken.stop();
      }
    });

    it('fails naming the port and with redis-server\'s own words when it exits at once', async () => {
      const err = await startRedis({ args: ['--no-such-option', 'x'] }).catch((e: unknown) => e as Error);
      expect(err).to.be.instanceOf(Error);
      expect((err as Error).message).to.match(/redis-server on port \d+ exited \(1\) before it answered PING/).and.contain('no-such-option');
    });
  });

  describe('the server', () => {
    it('starts, is ready, and stops with SIGTERM (exit 0)', async () => {
      const env = testEnv();
      const p = await startServer({ role: 'all', env });
      const redis = new Redis(REDIS_URL);
      try {
        expect((await fetch(`${p.url}/readyz`)).status).to.equal(200);
        expect(await p.stop()).to.deep.equal({ code: 0, signal: null, forced: false });
      } finally {
        await p.kill();
        await cleanPrefix(redis, env.KEY_PREFIX as string);
        redis.disconnect();
      }
    });

    it('a readiness wait fails at once when the server exits first, with its output', async () => {
      const p = spawnServer({ port: await freePort(), env: { ...testEnv(), OFFER_TIMEOUT_MS: 'soon' } });
      const err = await p.ready({ ms: 60000 }).catch((e: unknown) => e as Error);
      expect(err).to.be.instanceOf(Error);
      expect((err as Error).message).to.match(/exited \(2\) before it answered GET \/readyz with 200/).and.contain('OFFER_TIMEOUT_MS');
    });

    it('a readiness wait that runs out names the URL it waited for', async () => {
      const url = `http://127.0.0.1:${await freePort()}`;
      const err = await waitReady(url, { ms: 200 }).catch((e: unknown) => e as Error);
      expect(err).to.be.instanceOf(Error);
      expect((err as Error).message).to.contain(`GET ${url}/readyz with 200`).and.contain('nothing answered');
    });
  });

  describe('cleaning a prefix', () => {
    const redis = new Redis(REDIS_URL);
    after(() => redis.disconnect());

    it('deletes every key of the prefix, BullMQ\'s included, in batches, and nothing of a longer prefix or another spelling', async () => {
      const p = randomPrefix();
      const others = [`${p}0:call:1`, `${p}x:a`, p, `${p}-a:b`];
      const tricky = `${p}[x]`;
      const queue = new Queue(QUEUE.dispatch, { connection: redis.duplicate(), prefix: p });
      try {
        await queue.add('match', { callId: 'c1' }, { jobId: 'c1' });
        const pipe = redis.pipeline();
        for (let i = 0; i < 1200; i++) pipe.set(`${p}:call:${i}`, 'x');
        for (const k of [...others, `${tricky}:a`]) pipe.set(k, 'keep');
        await pipe.exec();
        const mine = async () => (await redis.keys(`${p}:*`)).length;
        expect(await mine()).to.be.above(1200);
        expect((await redis.keys(`${p}:${QUEUE.dispatch}:*`)).length).to.be.above(0);

        const deleted = await cleanPrefix(redis, p, { count: 100, batch: 250 });
        expect(deleted).to.be.above(1200);
        expect(await mine()).to.equal(0);
        expect(await redis.exists(...others, `${tricky}:a`)).to.equal(others.length + 1);

        // The glob characters of a prefix are taken literally.
        await redis.set(`${p}x:b`, 'keep');
        expect(await cleanPrefix(redis, tricky)).to.equal(1);
        expect(await redis.exists(`${p}x:a`, `${p}x:b`)).to.equal(2);
        expect(await cleanPrefix(redis, '').catch((e: unknown) => e)).to.be.instanceOf(Error);
      } finally {
        await queue.close();
        await redis.del(...others, `${p}x:b`, `${tricky}:a`);
      }
    });
  });
});
