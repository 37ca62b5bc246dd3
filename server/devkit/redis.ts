/**
 * A private redis-server: on a free port of 127.0.0.1 (or a given one), its AOF in a folder of its
 * own, with the settings the product asks for (appendonly, noeviction; fsync as asked), ready once
 * it answers PING (with a deadline), stopped with SIGTERM (it flushes its AOF) and SIGKILL after a
 * bound, killed as a crash would, and started again on the same port and folder.
 *
 * With `watchdog`, it runs under server/redis-watchdog.js in a process group of its own and never
 * outlives this process, kill -9 included: the watchdog's stdin is a pipe from this process, which
 * the kernel closes when this process is gone, and the watchdog then stops redis-server.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { spawnChild, spawnNode, type Child, type ChildOptions } from './child.js';
import { freePort, portFree } from './ports.js';
import { GiveUp, until } from './wait.js';

const WATCHDOG = fileURLToPath(new URL('../redis-watchdog.js', import.meta.url));

/** Whether something at `url` answers PING within `ms`. */
export async function redisAnswers(url: string, ms = 1000): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: ms, commandTimeout: ms, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** Whether a redis-server binary can be run. */
export function redisServerInstalled(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0;
}

export interface RedisOptions {
  /** Default: a free port. */
  port?: number;
  /** Where its AOF goes. Default: a new temporary folder, removed by `stop()`. */
  dir?: string;
  /** Default 'everysec'; 'always' keeps every acknowledged write through a kill. */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** More redis-server arguments (e.g. ['--maxclients', '20000']). */
  args?: string[];
  /** Run under the watchdog: it never outlives this process, however this process ends. */
  watchdog?: boolean;
  /** How long it may take to answer PING (default 10 s). */
  readyMs?: number;
  /** Keep only the last this many characters of its output. */
  keep?: number;
  /** Called with each process spawned (redis-server, or its watchdog). */
  onSpawn?: ChildOptions['onSpawn'];
}

export interface RedisServer {
  url: string;
  port: number;
  dir: string;
  /** The redis-server's own pid (with a watchdog, not the child's). */
  pid: number;
  version: string;
  /** The current process (a new one after `up()`). */
  child(): Child;
  running(): boolean;
  /** Start it again on the same port and folder (nothing if it runs); resolves when it answers PING. */
  up(): Promise<void>;
  /** SIGKILL to redis-server, as a crash would; resolves when it is gone. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL to redis-server after `ms`; removes the folder if it made it. */
  stop(ms?: number): Promise<void>;
}

/** Start a private redis-server; resolves when it answers PING (or fails, leaving nothing running). */
export async function startRedis(o: RedisOptions = {}): Promise<RedisServer> {
  const port = o.port ?? (await freePort());
  const ownDir = o.dir === undefined;
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'dispatch-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', 'yes', '--appendfsync', o.appendfsync ?? 'everysec', '--maxmemory-policy', 'noeviction', ...(o.args ?? []),
  ];
  const spawnOpts: ChildOptions = { name: `redis-server on port ${port}`, keep: o.keep, onSpawn: o.onSpawn };
  const launch = (): Child =>
    o.watchdog
      // Its output goes nowhere: nothing of the watchdog may depend on this process reading it.
      ? spawnNode([WATCHDOG, ...args], { ...spawnOpts, detached: true, stdin: 'pipe', output: 'ignore' })
      : spawnChild('redis-server', args, spawnOpts);

  let child: Child;
  let pid = 0;
  let version = 'unknown';
  const up = async () => {
    // Else the PING below could be answered by whatever listens there.
    if (!(await portFree(port, '127.0.0.1'))) throw new Error(`cannot start redis-server on port ${port}: the port is in use`);
    child = launch();
    // Nothing is ever written to the watchdog's stdin: the pipe only has to stay open.
    child.child.stdin?.on('error', () => undefined);
    try {
      await until(() => {
        if (!child.running()) throw new GiveUp(`redis-server on port ${port} exited (${child.child.exitCode ?? child.child.signalCode}) before it answered PING${child.output() ? `: ${child.output().slice(-2000)}` : ''}`);
        return redisAnswers(url);
      }, `redis-server on port ${port} to answer PING`, o.readyMs ?? 10000, 50);
      const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on('error', () => undefined);
      try {
        await client.connect();
        const info = await client.info('server');
        pid = Number(/^process_id:(\d+)/m.exec(info)?.[1]);
        version = /^redis_version:(\S+)/m.exec(info)?.[1] ?? 'unknown';
      } finally {
        client.disconnect();
      }
    } catch (err) {
      // The watchdog stops redis-server itself on SIGTERM; killing it hard would leave it running.
      if (o.watchdog) child.signal('SIGTERM');
      else await child.kill();
      throw err;
    }
  };
  /** SIGKILL to redis-server itself: with a watchdog, killing the watchdog would leave it running. */
  const killRedis = () => {
    if (!child.running()) return;
    try {
      process.kill(pid || child.pid, 'SIGKILL');
    } catch {
      child.signal('SIGKILL');
    }
  };

  try {
    await up();
  } catch (err) {
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const server: RedisServer = {
    url,
    port,
    dir,
    get pid() {
      return pid;
    },
    get version() {
      return version;
    },
    child: () => child,
    running: () => child.running(),
    async up() {
      if (!child.running()) await up();
    },
    async kill() {
      killRedis();
      await child.exited;
    },
    async stop(ms = 10000) {
      child.signal('SIGTERM');
      const timer = setTimeout(killRedis, ms);
      try {
        await child.exited;
      } finally {
        clearTimeout(timer);
        if (ownDir) rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  return server;
}
