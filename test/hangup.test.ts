/**
 * Nothing is left behind when a terminal closes (SIGHUP) or a process is stopped, all with real
 * processes:
 * - `dispatch demo` on SIGHUP stops its server (which runs detached, in its own process group, so
 *   the hang-up reaches only the demo) and exits;
 * - the server on SIGHUP and SIGTERM stops the private redis-server it started, and after kill -9
 *   the redis-server stops too (its watchdog sees the server's pipe close).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { freePort, REDIS_URL, tempDir, testEnv } from './support/env.js';
import { alive, answersHttp, spawnNodeProcess, type Proc } from './support/process.js';
import { cleanup } from './support/stack.js';
import { until } from './support/wait.js';

/** tsx's loader as a file URL, for a child whose working directory has no node_modules. */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const MAIN = new URL('../server/main.ts', import.meta.url).pathname;

const readyz = async (port: number) => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200;

describe('hang-up and shutdown', function () {
  this.timeout(90000);
  const procs: Proc[] = [];
  const prefixes: string[] = [];
  afterEach(async () => {
    for (const p of procs.splice(0)) p.kill();
    const redis = new Redis(REDIS_URL);
    try {
      for (const prefix of prefixes.splice(0)) await cleanup(redis, prefix);
    } finally {
      redis.disconnect();
    }
  });

  it('dispatch demo: SIGHUP stops the server it started, then the demo exits', async () => {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, ...testEnv({ LOG_LEVEL: 'info' }) };
    delete env.PORT; // the demo gives its server --port
    prefixes.push(env.KEY_PREFIX as string);
    const demo = spawnNodeProcess(['clients/cli/bin.js', 'demo', '--port', String(port), '--drivers', '2'], { env });
    procs.push(demo);
    const ready = await demo.line((l) => /server ready at .* \(pid \d+\)/.test(l), 'the demo\'s "server ready" line', 60000);
    const serverPid = Number(/\(pid (\d+)\)/.exec(ready)?.[1]);
    await until(() => readyz(port), `the demo's server to answer /readyz on ${port}`, 30000);
    await demo.line((l) => l.includes('drivers online'), 'the demo\'s drivers to be online');

    demo.child.kill('SIGHUP');
    const exit = await demo.exit(60000);
    expect(exit, demo.output()).to.deep.equal({ code: 0, signal: null });
    await until(async () => !(await answersHttp(`http://127.0.0.1:${port}/healthz`)), `port ${port} to stop answering`, 15000);
    await until(() => !alive(serverPid), `the demo's server (pid ${serverPid}) to be gone`, 15000);
    expect(demo.stdout.some((l) => l.includes('stopping the server'))).to.equal(true);
  });

  /** The server with REDIS_URL unset and nothing at the probed default address: it starts a private redis-server. */
  async function serverWithPrivateRedis(): Promise<{ server: Proc; redisPid: number; redisUrl: string }> {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...testEnv({ LOG_LEVEL: 'info', PORT: port, EMBEDDED_REDIS: 'true', EMBEDDED_REDIS_PROBE_URL: `redis://127.0.0.1:${await freePort()}` }),
      LOG_FORMAT: 'json',
    };
    delete env.REDIS_URL;
    // A working directory of its own: the private Redis keeps its data in ./data/redis.
    const server = spawnNodeProcess(['--import', TSX, MAIN], { env, cwd: tempDir() });
    procs.push(server);
    const line = await server.line((l) => l.includes('started a private redis-server'), 'the private redis-server to be announced');
    const redisUrl = (JSON.parse(line) as { url: string }).url;
    await until(() => readyz(port), 'the server to be ready', 30000);
    const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await client.connect();
      const info = await client.info('server');
      const redisPid = Number(/^process_id:(\d+)/m.exec(info)?.[1]);
      expect(redisPid, info).to.be.above(0);
      return { server, redisPid, redisUrl };
    } finally {
      client.disconnect();
    }
  }

  const redisAnswers = async (url: string) => {
    const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      return (await c.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      c.disconnect();
    }
  };

  for (const signal of ['SIGHUP', 'SIGTERM'] as const) {
    it(`the server on ${signal}: exits 0 and its private redis-server is gone`, async () => {
      const { server, redisPid, redisUrl } = await serverWithPrivateRedis();
      expect(alive(redisPid)).to.equal(true);
      server.child.kill(signal);
      expect(await server.exit(), server.output()).to.deep.equal({ code: 0, signal: null });
      expect(server.stdout.some((l) => l.includes('shutting down') && l.includes(signal)), server.output()).to.equal(true);
      await until(() => !alive(redisPid), `the private redis-server (pid ${redisPid}) to be gone`, 15000);
      expect(await redisAnswers(redisUrl)).to.equal(false);
    });
  }

  it('the server killed with kill -9: its private redis-server stops all the same', async () => {
    const { server, redisPid, redisUrl } = await serverWithPrivateRedis();
    server.child.kill('SIGKILL');
    expect(await server.exit()).to.deep.equal({ code: null, signal: 'SIGKILL' });
    await until(() => !alive(redisPid), `the private redis-server (pid ${redisPid}) to be gone`, 15000);
    expect(await redisAnswers(redisUrl)).to.equal(false);
  });
});
