/** The raw baseline servers, as processes of their own (like the product's gateways). */
import { join } from 'node:path';
import { BENCH_DIR, startNode, type Proc } from './procs.js';
import { settledHeap } from './stack.js';

export interface RawServer extends Proc {
  url: string;
}

async function startRaw(name: string, file: string, env: Record<string, string>): Promise<RawServer> {
  const proc = startNode(name, join(BENCH_DIR, 'raw', file), { ...env, PORT: '0' }, ['--expose-gc']);
  const line = await proc.line((l) => /^listening \d+$/.test(l), 'its "listening <port>" line', 60_000);
  return Object.assign(proc, { url: `http://127.0.0.1:${line.split(' ')[1] ?? ''}` });
}

/** A plain Socket.IO server; with `redisUrl`, on the Redis adapter under `key`. */
export function startRawSio(name: string, redisUrl?: string, key = 'rawsio'): Promise<RawServer> {
  return startRaw(name, 'sio-server.ts', redisUrl ? { REDIS_URL: redisUrl, ADAPTER_KEY: key } : {});
}

export function startRawHttp(name: string): Promise<RawServer> {
  return startRaw(name, 'http-server.ts', {});
}

/** Settled used heap of a raw Socket.IO server (GET /heap after a full GC). */
export function rawHeap(s: RawServer): Promise<number | null> {
  return settledHeap(s, async () => {
    const res = await fetch(`${s.url}/heap`).catch(() => null);
    if (!res?.ok) return null;
    return ((await res.json()) as { heapUsed: number }).heapUsed;
  });
}
