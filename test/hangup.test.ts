/**
 * Nothing is left behind when a terminal closes (SIGHUP) or a process is stopped, all with real
 * processes:
 * - `dispatch demo` on SIGHUP stops its server (which runs detached, in its own process group, so
 *   the hang-up reaches only the demo) and exits;
 * - the server on SIGHUP and SIGTERM stops the private redis-server it started, and after kill -9
 *   the redis-server stops too (its watchdog sees the server's pipe close).
 */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { alive, spawnNode, type Child } from '../server/devkit/child.js';
import { cleanPrefix } from '../server/devkit/prefix.js';
import { redisAnswers } from '../server/devkit/redis.js';
import { httpAnswers, spawnServer, waitReady, type ServerProcess } from '../server/devkit/server.js';
import { freePort, REDIS_URL, tempDir, testEnv } from './support/env.js';
import { until } from './support/wait.js';

describe('hang-up and shutdown', function () {
  this.timeout(90000);
  const procs: Child[] = [];
  const prefixes: string[] = [];
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.kill()));
    const redis = new Redis(REDIS_URL);
    try {
      for (const prefix of prefixes.splice(0)) await cleanPrefix(redis, prefix);
    } finally {
      redis.disconnect();
    }
  });

  it('dispatch demo: SIGHUP stops the server it started, then the demo exits', async () => {
    const port = await freePort();
    const env = testEnv({ LOG_LEVEL: 'info' });
    prefixes.push(env.KEY_PREFIX as string);
    // The demo gives its server --port.
    const demo = spawnNode(['clients/cli/bin.js', 'demo', '--port', String(port), '--drivers', '2'], { env: { ...env, PORT: undefined } });
    procs.push(demo);
    const ready = await demo.line((l) => /server ready at .* \(pid \d+\)/.test(l), 'the demo\'s "server ready" line', 60000);
    const serverPid = Number(/\(pid (\d+)\)/.exec(ready)?.[1]);
    await waitReady(`http://127.0.0.1:${port}`, { ms: 30000 });
    // It prints the console's address with an admin sign-in: the page is served there, and the token is an admin's.
    const consoleLine = await demo.line((l) => l.includes('operator console: '), 'the demo\'s console line', 30000);
    const url = new URL(consoleLine.slice(consoleLine.indexOf('http')).trim());
    expect(url.pathname).to.equal('/ops');
    const jwt = new URLSearchParams(url.hash.slice(1)).get('token') ?? '';
    const snap = await fetch(`${url.origin}/api/ops/snapshot`, { headers: { authorization: `Bearer ${jwt}` } });
    expect(snap.status, 'the printed token signs an admin in').to.equal(200);
    await demo.line((l) => l.includes('drivers online'), 'the demo\'s drivers to be online');

    demo.child.kill('SIGHUP');
    const exit = await demo.exit(60000);
    expect(exit, demo.output()).to.deep.equal({ code: 0, signal: null });
    await until(async () => !(await httpAnswers(`http://127.0.0.1:${port}/healthz`)), `port ${port} to stop answering`, 15000);
    await until(() => !alive(serverPid), `the demo's server (pid ${serverPid}) to be gone`, 15000);
    expect(demo.stdout.some((l) => l.includes('stopping the server'))).to.equal(true);
  });

  /** The server with REDIS_URL unset and nothing at the probed default address: it starts a private redis-server. */
  async function serverWithPrivateRedis(): Promise<{ server: ServerProcess; redisPid: number; redisUrl: string }> {
    const env = testEnv({ LOG_LEVEL: 'info', EMBEDDED_REDIS: 'true', EMBEDDED_REDIS_PROBE_URL: `redis://127.0.0.1:${await freePort()}` });
    // A working directory of its own: the private Redis keeps its data in ./data/redis.
    const server = spawnServer({ port: await freePort(), env: { ...env, REDIS_URL: undefined, LOG_FORMAT: 'json' }, cwd: tempDir() });
    procs.push(server);
    const line = await server.line((l) => l.includes('started a private redis-server'), 'the private redis-server to be announced');
    const redisUrl = (JSON.parse(line) as { url: string }).url;
    await server.ready({ ms: 30000 });
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
