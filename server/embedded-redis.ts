/**
 * One-command start: when REDIS_URL was not set and nothing answers at the default address,
 * start a private `redis-server` with its data under ./data, and stop it on exit.
 *
 * The private redis-server never outlives this process: it runs under redis-watchdog.js, in a
 * process group of its own (so a Ctrl-C at the terminal reaches only the server, which stops Redis
 * after it has drained), and the watchdog stops it when this process stops it, exits, or dies in
 * any way, kill -9 included: the watchdog's stdin is a pipe from this process, which the kernel
 * closes when this process is gone.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config.js';

export interface RedisHandle {
  url: string;
  stop(): Promise<void>;
}

async function answers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

const WATCHDOG = fileURLToPath(new URL('./redis-watchdog.js', import.meta.url));

export async function ensureRedis(config: Config, log: Logger): Promise<RedisHandle> {
  if (config.redisUrlExplicit || !config.EMBEDDED_REDIS) return { url: config.REDIS_URL, stop: () => Promise.resolve() };
  // The default address, or the test seam EMBEDDED_REDIS_PROBE_URL in its place.
  const probe = config.EMBEDDED_REDIS_PROBE_URL ?? config.REDIS_URL;
  if (await answers(probe)) return { url: probe, stop: () => Promise.resolve() };
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error(
      `nothing answers at ${probe} and no redis-server binary was found.\n` +
        'Install Redis 7 (e.g. `apt-get install redis-server`, `brew install redis`, or `docker run -p 6379:6379 redis:7`), or set REDIS_URL.',
    );
  }
  const dir = resolve('data', 'redis');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [WATCHDOG, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction'],
    { stdio: ['pipe', 'ignore', 'ignore'], detached: true },
  );
  child.stdin?.on('error', () => undefined); // nothing is ever written; the pipe only has to stay open
  const running = () => child.exitCode === null && child.signalCode === null;
  const kill = () => {
    if (running()) child.kill('SIGTERM');
  };
  process.once('exit', kill);
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10000;
  while (!(await answers(url))) {
    if (!running() || Date.now() > deadline) {
      kill();
      throw new Error('the private redis-server did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  log.warn({ url, dir }, `nothing answered at ${probe}: started a private redis-server (data in ./data/redis); set REDIS_URL to use your own`);
  return {
    url,
    stop: async () => {
      process.off('exit', kill);
      if (!running()) return;
      const exited = new Promise((r) => child.once('exit', r));
      kill();
      await exited;
    },
  };
}
