/**
 * The product as it runs in production: gateway and dispatcher processes of `server/main.ts`
 * (what `npm start` runs, started by the dev kit), on the bench's private Redis, with the limits
 * that would throttle a load from one address turned off. A stopped stack's keys are deleted.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { cleanPrefix } from '../../server/devkit/prefix.js';
import { startServer, type ServerProcess } from '../../server/devkit/server.js';
import { CHILD_OPTIONS, dropTempDir, PRELOAD_IMPORT, sleep, trackTempDir, type Proc } from './procs.js';

export const BENCH_SECRET = 'bench-secret-0123456789abcdef';

export interface StackOptions {
  redisUrl: string;
  keyPrefix: string;
  gateways?: number;
  dispatchers?: number;
  /** Extra environment (e.g. OFFER_WAVE_SIZE). */
  env?: Record<string, string | number>;
  /** Write V8 CPU profiles of every process under here, a folder per process (on exit). */
  cpuProfDir?: string;
}

export interface NodeProc extends ServerProcess {
  role: 'gateway' | 'dispatcher';
}

export interface ProductStack {
  gateways: NodeProc[];
  dispatchers: NodeProc[];
  urls: string[];
  env: Record<string, string>;
  all(): NodeProc[];
  /**
   * New dispatcher processes with these changes to the environment (undefined removes a variable),
   * then the old ones stopped: only the dispatcher reads OFFER_WAVE_SIZE, so the gateways and the
   * prefix stay. Quicker than a new stack.
   */
  replaceDispatchers(change: Record<string, string | undefined>): Promise<void>;
  stop(): Promise<void>;
}

/** The environment every process of one bench stack shares. */
export function stackEnv(o: StackOptions): Record<string, string> {
  const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'dispatch-bench-')));
  const env: Record<string, string | number> = {
    NODE_ENV: 'production',
    REDIS_URL: o.redisUrl,
    KEY_PREFIX: o.keyPrefix,
    JWT_SECRET: BENCH_SECRET,
    DB_PATH: join(dir, 'ledger.db'),
    LOG_LEVEL: 'warn',
    EMBEDDED_REDIS: 'false',
    // One machine, one address: per-address and per-user limits would measure themselves.
    CONNECT_RATE_PER_IP: 0,
    RATE_LIMIT_PER_S: 0,
    LOCATION_RATE_LIMIT_PER_S: 0,
    ...o.env,
  };
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

async function startRole(role: 'gateway' | 'dispatcher', n: number, env: Record<string, string>, cpuProfDir?: string): Promise<NodeProc> {
  const name = `${role}-${n}`;
  const flags = ['--expose-gc', ...PRELOAD_IMPORT];
  if (cpuProfDir) {
    // A folder per process: Node writes a profile per thread (tsx's loader runs on a thread of its own).
    const dir = join(cpuProfDir, name);
    mkdirSync(dir, { recursive: true });
    flags.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  const proc = await startServer({ ...CHILD_OPTIONS, name, role, env, nodeFlags: flags, ready: { ms: 60_000, tick: 100 } });
  return Object.assign(proc, { role });
}

export async function startStack(o: StackOptions): Promise<ProductStack> {
  const env = stackEnv(o);
  const starting = [
    ...Array.from({ length: o.gateways ?? 2 }, (_, i) => startRole('gateway', i + 1, env, o.cpuProfDir)),
    ...Array.from({ length: o.dispatchers ?? 1 }, (_, i) => startRole('dispatcher', i + 1, env, o.cpuProfDir)),
  ];
  const settled = await Promise.allSettled(starting);
  const procs = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(procs.map((p) => p.kill()));
    throw failed.reason;
  }
  const gateways = procs.filter((p) => p.role === 'gateway');
  const dispatchers = procs.filter((p) => p.role === 'dispatcher');
  const stack: ProductStack = {
    gateways,
    dispatchers,
    urls: gateways.map((g) => g.url),
    env,
    all: () => [...gateways, ...dispatchers],
    async replaceDispatchers(change) {
      const next = { ...stack.env };
      for (const [k, v] of Object.entries(change)) {
        if (v === undefined) delete next[k];
        else next[k] = v;
      }
      const old = dispatchers.splice(0);
      const fresh = await Promise.all(old.map((_, i) => startRole('dispatcher', i + 1, next, o.cpuProfDir)));
      await Promise.all(old.map((p) => p.stop(20_000)));
      dispatchers.push(...fresh);
      stack.env = next;
    },
    // SIGTERM: the graceful stop (which also writes a CPU profile); the product bounds it at 10 s.
    // Then the stack's keys go, so the next stack's Redis holds only its own.
    stop: async () => {
      await Promise.all(stack.all().map((p) => p.stop(20_000)));
      dropTempDir(dirname(env.DB_PATH as string));
      const redis = new Redis(o.redisUrl, { maxRetriesPerRequest: 1 });
      redis.on('error', () => undefined);
      try {
        await cleanPrefix(redis, o.keyPrefix);
      } finally {
        redis.disconnect();
      }
    },
  };
  return stack;
}

/** A metric's value from a process' /metrics (prom-client text), or null. */
export async function metric(url: string, name: string): Promise<number | null> {
  const res = await fetch(`${url}/metrics`).catch(() => null);
  if (!res?.ok) return null;
  const text = await res.text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * The settled heap of a process: a full GC (SIGUSR2 → bench/preload.ts, the process runs with
 * --expose-gc), then its used heap as /metrics or `heapUrl` reports it.
 */
export async function settledHeap(p: Proc, read: () => Promise<number | null>, passes = 2): Promise<number | null> {
  let best: number | null = null;
  // GCs a little apart; the smallest reading is the one with the least garbage left in it.
  for (let i = 0; i < passes; i++) {
    p.child.kill('SIGUSR2');
    await sleep(300);
    const v = await read();
    if (v !== null && (best === null || v < best)) best = v;
  }
  return best;
}

/** Used heap of a product process, from its /metrics. */
export function productHeap(p: NodeProc): Promise<number | null> {
  return settledHeap(p, () => metric(p.url, 'nodejs_heap_size_used_bytes'));
}
