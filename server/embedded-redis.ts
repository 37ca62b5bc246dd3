/**
 * One-command start: when REDIS_URL was not set and nothing answers at the default address,
 * start a private `redis-server` child with its data under ./data, and stop it on exit.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
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

export async function ensureRedis(config: Config, log: Logger): Promise<RedisHandle> {
  const none: RedisHandle = { url: config.REDIS_URL, stop: () => Promise.resolve() };
  if (config.redisUrlExplicit || !config.EMBEDDED_REDIS || (await answers(config.REDIS_URL))) return none;
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error(
      `nothing answers at ${config.REDIS_URL} and no redis-server binary was found.\n` +
        'Install Redis 7 (e.g. `apt-get install redis-server`, `brew install redis`, or `docker run -p 6379:6379 redis:7`), or set REDIS_URL.',
    );
  }
  const dir = resolve('data', 'redis');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction'],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10000;
  while (!(await answers(url))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('the private redis-server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  log.warn({ url, dir }, `nothing answered at ${config.REDIS_URL}: started a private redis-server (data in ./data/redis); set REDIS_URL to use your own`);
  const kill = () => child.kill('SIGTERM');
  process.once('exit', kill);
  return {
    url,
    stop: async () => {
      process.off('exit', kill);
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      kill();
      await exited;
    },
  };
}
