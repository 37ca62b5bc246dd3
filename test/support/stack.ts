/**
 * Start the product for a test: gateways and dispatchers as app instances in this process
 * (createApp on port 0) or as real child processes (`tsx server/main.ts`, for kill -9), all sharing
 * one Redis and one random KEY_PREFIX.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { createApp, type App } from '../../server/app.js';
import { makeKeys, type Keys } from '../../server/redis/keys.js';
import { testConfig, testEnv } from './env.js';
import { until } from './wait.js';

export interface Stack {
  env: Record<string, string>;
  keys: Keys;
  /** A plain client for checking state. */
  redis: Redis;
  gateways: App[];
  dispatchers: App[];
  startGateway(): Promise<App>;
  startDispatcher(): Promise<App>;
  stop(): Promise<void>;
}

export async function startStack(opts: { gateways?: number; dispatchers?: number; env?: Record<string, string | number> } = {}): Promise<Stack> {
  const env = testEnv(opts.env);
  const redis = new Redis(env.REDIS_URL as string);
  redis.on('error', () => undefined); // fault tests stop Redis under it; it reconnects by itself
  const stack: Stack = {
    env,
    keys: makeKeys(env.KEY_PREFIX as string),
    redis,
    gateways: [],
    dispatchers: [],
    async startGateway() {
      const app = await createApp(testConfig(env, 'gateway'));
      stack.gateways.push(app);
      return app;
    },
    async startDispatcher() {
      const app = await createApp(testConfig(env, 'dispatcher'));
      stack.dispatchers.push(app);
      return app;
    },
    async stop() {
      await Promise.all([...stack.gateways, ...stack.dispatchers].map((a) => a.stop()));
      await cleanup(redis, env.KEY_PREFIX as string);
      redis.disconnect();
    },
  };
  for (let i = 0; i < (opts.gateways ?? 2); i++) await stack.startGateway();
  for (let i = 0; i < (opts.dispatchers ?? 1); i++) await stack.startDispatcher();
  return stack;
}

/** Remove every key of a test prefix. */
export async function cleanup(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}

export interface NodeProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** A real `server/main.ts` process (what `npm start` runs), ready when /readyz answers 200. */
export async function spawnNode(role: 'all' | 'gateway' | 'dispatcher', env: Record<string, string>, port: number): Promise<NodeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, ...env, ROLE: role, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const url = `http://127.0.0.1:${port}`;
  await until(async () => {
    if (child.exitCode !== null) throw new Error(`${role} exited: ${out}`);
    return (await fetch(`${url}/readyz`).catch(() => null))?.status === 200;
  }, `${role} process to be ready`, 30000, 50);
  const exited = () => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit').then(() => undefined));
  return {
    url,
    child,
    output: () => out,
    async kill9() {
      child.kill('SIGKILL');
      await exited();
    },
    async stop() {
      child.kill('SIGTERM');
      await exited();
    },
  };
}
