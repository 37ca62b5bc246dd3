/**
 * The bench's private redis-server (loopback only) and what it can tell. It runs with the settings
 * the product asks for in production (AOF, fsync every second, noeviction), so the figures carry the
 * cost of durability as a deployment would; the raw baselines run on the same server.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { dropTempDir, freePort, startProcess, trackTempDir, until, type Proc } from './procs.js';

export interface PrivateRedis {
  url: string;
  port: number;
  proc: Proc;
  version: string;
  /** A plain client for the bench itself. */
  client: Redis;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'dispatch-bench-redis-')));
  const proc = startProcess('redis', 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec',
    '--maxmemory-policy', 'noeviction', '--maxclients', '20000', '--loglevel', 'warning',
  ]);
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  await until(async () => {
    if (proc.child.exitCode !== null) throw new Error(`redis-server exited: ${proc.output()}`);
    if (client.status !== 'ready') await client.connect().catch(() => undefined);
    return (await client.ping()) === 'PONG';
  }, `redis-server on ${port}`, 10_000, 50);
  const info = await client.info('server');
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  return {
    url, port, proc, version, client,
    async stop() {
      client.disconnect();
      await proc.stop('SIGTERM', 5000);
      dropTempDir(dir);
    },
  };
}

export interface CommandStat {
  command: string;
  calls: number;
  usec: number;
  usecPerCall: number;
}

/** Redis' own per-command accounting since the last CONFIG RESETSTAT, biggest total first. */
export async function commandStats(client: Redis, top = 8): Promise<CommandStat[]> {
  const text = await client.info('commandstats');
  const out: CommandStat[] = [];
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)/gm)) {
    out.push({ command: m[1] as string, calls: Number(m[2]), usec: Number(m[3]), usecPerCall: Number(m[4]) });
  }
  return out.sort((a, b) => b.usec - a.usec).slice(0, top);
}

export async function resetStats(client: Redis): Promise<void> {
  await client.config('RESETSTAT');
}

/** Remove every key under a prefix (between scenarios). */
export async function dropPrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
    if (keys.length) await client.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}
