/**
 * The bench's private redis-server (loopback only) and what it can tell. It runs with the settings
 * the product asks for in production (AOF, fsync every second, noeviction), so the figures carry the
 * cost of durability as a deployment would; the raw baselines run on the same server.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis as startServer } from '../../server/devkit/redis.js';
import { CHILD_OPTIONS, dropTempDir, trackTempDir } from './procs.js';

export interface PrivateRedis {
  url: string;
  port: number;
  /** The redis-server's pid (CPU accounting). */
  pid: number;
  version: string;
  /** A plain client for the bench itself. */
  client: Redis;
  stop(): Promise<void>;
}

/** The dev kit's private redis-server, tracked with the bench's other children, and a client. */
export async function startRedis(): Promise<PrivateRedis> {
  const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'dispatch-bench-redis-')));
  const server = await startServer({
    dir, appendfsync: 'everysec', args: ['--maxclients', '20000', '--loglevel', 'warning'], keep: CHILD_OPTIONS.keep, onSpawn: CHILD_OPTIONS.onSpawn,
  });
  const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  await client.connect();
  return {
    url: server.url, port: server.port, pid: server.pid, version: server.version, client,
    async stop() {
      client.disconnect();
      await server.stop(5000);
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
