/**
 * Start the product for a test: gateways and dispatchers as app instances in this process
 * (createApp on port 0) or as real child processes (`tsx server/main.ts` through the dev kit, for
 * kill -9), all sharing one Redis and one random KEY_PREFIX, deleted by `stop()`.
 */
import { Redis } from 'ioredis';
import { createApp, type App } from '../../server/app.js';
import { cleanPrefix } from '../../server/devkit/prefix.js';
import { startServer, type Role, type ServerProcess } from '../../server/devkit/server.js';
import { makeKeys, type Keys } from '../../server/redis/keys.js';
import { testConfig, testEnv } from './env.js';

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
      await cleanPrefix(redis, env.KEY_PREFIX as string);
      redis.disconnect();
    },
  };
  for (let i = 0; i < (opts.gateways ?? 2); i++) await stack.startGateway();
  for (let i = 0; i < (opts.dispatchers ?? 1); i++) await stack.startDispatcher();
  return stack;
}

export interface NodeProcess extends ServerProcess {
  /** kill -9, then wait for the exit. */
  kill9(): Promise<void>;
}

/** A real `server/main.ts` process (what `npm start` runs) with a test stack's env, ready when /readyz answers 200. */
export async function spawnNode(role: Role, env: Record<string, string>, port: number): Promise<NodeProcess> {
  const p = await startServer({ role, env, port, name: `${role} on port ${port}`, ready: { ms: 30000, tick: 50 } });
  return Object.assign(p, { kill9: async () => void (await p.kill()) });
}
